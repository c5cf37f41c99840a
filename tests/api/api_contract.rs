//! The management API against its own OpenAPI document, with the reference tools from PyPI:
//! `openapi-spec-validator` says the document is valid OpenAPI 3.1, and Schemathesis sends
//! generated requests to every operation (examples, boundary cases and random data) and checks
//! that nothing answers 5xx and every answer (status, content type, body) is one the document
//! describes. `scripts/install-test-deps` installs both into a virtual environment; its path
//! is `KEYWARD_CONTRACT_VENV` (default `~/.cache/keyward/contract-venv`).

use std::path::PathBuf;
use std::process::Command;

use keyward::keys::management::{self, NewToken, TokenScopes};
use keyward::keys::{Expiry, KeyName};

use crate::both_backends;
use crate::helpers::db::{first_workspace, insert_keys};
use crate::helpers::{Backend, spawn_app};

both_backends! {
    the_management_api_answers_as_its_openapi_document_says,
}

fn venv_tool(name: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("KEYWARD_CONTRACT_VENV").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/keyward/contract-venv"))
    })?;
    let tool = venv.join("bin").join(name);
    tool.exists().then_some(tool)
}

/// The tool, or `None` to skip outside CI; in CI its absence fails the test.
fn tool(name: &str) -> Option<PathBuf> {
    match venv_tool(name) {
        Some(tool) => Some(tool),
        None if std::env::var_os("CI").is_some() => {
            panic!("{name} is not installed: run scripts/install-test-deps")
        }
        None => {
            eprintln!("skipping: {name} is not installed (scripts/install-test-deps installs it)");
            None
        }
    }
}

async fn the_management_api_answers_as_its_openapi_document_says(backend: Backend) {
    let (Some(validator), Some(schemathesis)) = (tool("openapi-spec-validator"), tool("schemathesis")) else {
        return;
    };
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let ws = first_workspace(&app).await;
    insert_keys(&app, ws, (0..5).map(|i| (format!("seeded {i}"), None, i == 4)).collect()).await;
    let request = NewToken {
        name: KeyName::parse("contract").unwrap(),
        scopes: TokenScopes::parse(["keys:write", "members:read"]).unwrap(),
        expiry: Expiry::Days(7),
    };
    let (_, token) = management::create(&app.state.db, &Default::default(), ws, request).await.unwrap();

    let doc = app.client().get_text("/api/v1/openapi.json").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &doc).unwrap();
    let out = Command::new(validator).arg(&file).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the document is not valid OpenAPI 3.1:\n{said}");
    assert!(said.contains("OK"), "{said}");

    // Blocking: Schemathesis talks to the server this runtime drives.
    let url = app.client().url("/api/v1/openapi.json");
    let header = format!("Authorization: Bearer {}", token.expose());
    let report = dir.path().join("report");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .args(["run", &url, "--header", &header])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
            .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "40", "--workers", "1"])
            .args(["--seed", "20261202", "--no-color", "--generation-database", "none"])
            .args(["--report-dir"])
            .arg(&report)
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // Shown with --nocapture, and on failure: what was run and found.
    eprintln!("{said}");
    assert!(out.status.success(), "Schemathesis found answers the document does not describe:\n{said}");
    // It really exercised the operations (a run that tested nothing also exits 0).
    assert!(said.contains("12 operations") || said.contains("12/12"), "{said}");
}
