//! `KEYWARD_LEAK_REPORT_KEYS`: the public keys leak reports (`POST /api/v1/leaks`) must be signed
//! with. GitHub's secret scanning partner program signs each report with ECDSA P-256 over
//! SHA-256 and names its key in `Github-Public-Key-Identifier`; the signature (base64 of its
//! DER form) is in `Github-Public-Key-Signature`, over the exact bytes of the body.
//!
//! The file is either GitHub's answer from `https://api.github.com/meta/public_keys/secret_scanning`
//! (`{"public_keys":[{"key_identifier", "key": PEM, "is_current"}]}`: a report's key is the one
//! its identifier names) or a PEM file with one or more `PUBLIC KEY` blocks (no identifiers:
//! each key is tried). It is read and every key checked at start-up, so a bad file stops the
//! start with a line naming the setting rather than refusing every report later.

use std::fmt;
use std::path::Path;

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use super::ConfigError;

/// One accepted public key, with the identifier reports name it by (none in a bare PEM file).
#[derive(Clone)]
struct ReportKey {
    identifier: Option<String>,
    key: VerifyingKey,
}

/// The keys a leak report's signature may be made with (`Debug` lists the identifiers).
#[derive(Clone)]
pub struct LeakReportKeys {
    keys: Vec<ReportKey>,
}

impl fmt::Debug for LeakReportKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.identifier.as_deref().unwrap_or("(PEM)")).collect();
        f.debug_struct("LeakReportKeys").field("keys", &ids).finish()
    }
}

/// Why a report's signature is refused. Each has a stable code for the JSON answer (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefusal {
    #[error(
        "This server accepts only signed leak reports: send Github-Public-Key-Identifier and \
         Github-Public-Key-Signature."
    )]
    Missing,
    #[error("Github-Public-Key-Identifier names no key this server accepts.")]
    UnknownIdentifier,
    #[error("Github-Public-Key-Signature is not a valid signature of this body by the named key.")]
    Invalid,
}

impl SignatureRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::UnknownIdentifier => "signature_unknown_key",
            Self::Invalid => "signature_invalid",
        }
    }
}

#[derive(Deserialize)]
struct GithubKeys {
    public_keys: Vec<GithubKey>,
}

#[derive(Deserialize)]
struct GithubKey {
    key_identifier: String,
    key: String,
}

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

fn read_pem(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| format!("not an ECDSA P-256 public key in PEM form ({e})"))
}

impl LeakReportKeys {
    /// Reads and checks the file `KEYWARD_LEAK_REPORT_KEYS` names.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let refuse =
            |reason: String| ConfigError::LeakReportKeys { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| refuse(e.to_string()))?;
        Self::parse(&text).map_err(refuse)
    }

    /// GitHub's JSON (when the text starts with `{`) or PEM blocks; at least one key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let keys = if text.trim_start().starts_with('{') {
            let doc: GithubKeys = serde_json::from_str(text)
                .map_err(|e| format!("not GitHub's public key list ({{\"public_keys\": [...]}}): {e}"))?;
            doc.public_keys
                .into_iter()
                .map(|k| {
                    let key = read_pem(&k.key).map_err(|e| format!("key {:?}: {e}", k.key_identifier))?;
                    Ok(ReportKey { identifier: Some(k.key_identifier), key })
                })
                .collect::<Result<Vec<_>, String>>()?
        } else {
            let mut keys = Vec::new();
            let mut rest = text;
            while let Some(start) = rest.find(PEM_BEGIN) {
                let block = &rest[start..];
                let end = block.find(PEM_END).ok_or("a PUBLIC KEY block has no END line")? + PEM_END.len();
                let key =
                    read_pem(&block[..end]).map_err(|e| format!("PEM block {}: {e}", keys.len() + 1))?;
                keys.push(ReportKey { identifier: None, key });
                rest = &block[end..];
            }
            keys
        };
        if keys.is_empty() {
            return Err("the file holds no public key".to_owned());
        }
        Ok(Self { keys })
    }

    /// How many keys were read.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: [`LeakReportKeys::parse`] refuses a file without keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks a report: `identifier` and `signature` are its two headers (absent: `None`), `body`
    /// the exact bytes received. A key with identifiers is chosen by it; PEM keys are each tried.
    pub fn verify(
        &self,
        identifier: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureRefusal> {
        let (Some(identifier), Some(signature)) = (identifier, signature) else {
            return Err(SignatureRefusal::Missing);
        };
        let (identifier, signature) = (identifier.trim(), signature.trim());
        if identifier.is_empty() || signature.is_empty() {
            return Err(SignatureRefusal::Missing);
        }
        let candidates: Vec<&VerifyingKey> = self
            .keys
            .iter()
            .filter(|k| k.identifier.as_deref().is_none_or(|id| id == identifier))
            .map(|k| &k.key)
            .collect();
        if candidates.is_empty() {
            return Err(SignatureRefusal::UnknownIdentifier);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| SignatureRefusal::Invalid)?;
        // DER, as GitHub sends it; the fixed 64-byte form too, which other signers use.
        let signature = Signature::from_der(&bytes)
            .or_else(|_| Signature::from_slice(&bytes))
            .map_err(|_| SignatureRefusal::Invalid)?;
        if candidates.into_iter().any(|key| key.verify(body, &signature).is_ok()) {
            Ok(())
        } else {
            Err(SignatureRefusal::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    use super::*;

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn pem_of(key: &SigningKey) -> String {
        key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    #[test]
    fn github_keys_are_chosen_by_identifier() {
        let (old, new) = (signing_key(1), signing_key(2));
        let json = serde_json::json!({"public_keys": [
            {"key_identifier": "old", "key": pem_of(&old), "is_current": false},
            {"key_identifier": "new", "key": pem_of(&new), "is_current": true},
        ]});
        let keys = LeakReportKeys::parse(&json.to_string()).unwrap();
        assert_eq!(keys.len(), 2);
        let body = br#"[{"token":"x","type":"t"}]"#;
        assert_eq!(keys.verify(Some("new"), Some(&sign(&new, body)), body), Ok(()));
        assert_eq!(keys.verify(Some("old"), Some(&sign(&old, body)), body), Ok(()));
        // The right signature under the other key's identifier, another body, garbage.
        assert_eq!(keys.verify(Some("old"), Some(&sign(&new, body)), body), Err(SignatureRefusal::Invalid));
        assert_eq!(keys.verify(Some("new"), Some(&sign(&new, body)), b"[]"), Err(SignatureRefusal::Invalid));
        assert_eq!(keys.verify(Some("new"), Some("not base64!"), body), Err(SignatureRefusal::Invalid));
        assert_eq!(keys.verify(Some("new"), Some("AAAA"), body), Err(SignatureRefusal::Invalid));
        assert_eq!(
            keys.verify(Some("other"), Some(&sign(&new, body)), body),
            Err(SignatureRefusal::UnknownIdentifier)
        );
        assert_eq!(keys.verify(None, Some(&sign(&new, body)), body), Err(SignatureRefusal::Missing));
        assert_eq!(keys.verify(Some("new"), None, body), Err(SignatureRefusal::Missing));
        assert_eq!(keys.verify(Some(" "), Some(&sign(&new, body)), body), Err(SignatureRefusal::Missing));
    }

    #[test]
    fn every_key_of_a_pem_file_is_tried() {
        let (a, b) = (signing_key(3), signing_key(4));
        let keys = LeakReportKeys::parse(&format!("# ours\n{}\n{}", pem_of(&a), pem_of(&b))).unwrap();
        assert_eq!(keys.len(), 2);
        let body = b"[]";
        assert_eq!(keys.verify(Some("anything"), Some(&sign(&b, body)), body), Ok(()));
        assert_eq!(
            keys.verify(Some("anything"), Some(&sign(&signing_key(5), body)), body),
            Err(SignatureRefusal::Invalid)
        );
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(LeakReportKeys::parse("").unwrap_err().contains("no public key"));
        assert!(LeakReportKeys::parse("{\"keys\": []}").unwrap_err().contains("public_keys"));
        assert!(LeakReportKeys::parse("{\"public_keys\": []}").unwrap_err().contains("no public key"));
        let broken = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(LeakReportKeys::parse(broken).unwrap_err().contains("P-256"));
        let json = serde_json::json!({"public_keys": [{"key_identifier": "k1", "key": broken}]});
        assert!(LeakReportKeys::parse(&json.to_string()).unwrap_err().contains("\"k1\""));
        let err = LeakReportKeys::load(Path::new("/nonexistent/keys.pem")).unwrap_err().to_string();
        assert!(err.starts_with("KEYWARD_LEAK_REPORT_KEYS"), "{err}");
    }
}
