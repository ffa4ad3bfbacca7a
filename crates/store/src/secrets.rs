//! Secrets at rest (OA app secret, Token, EncodingAESKeys): ChaCha20-Poly1305 with a random
//! nonce per value. The column name is the associated data, so a value copied into another
//! column does not open. Stored form: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).

use crate::StoreError;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use std::io::Write;
use std::path::Path;

#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// A second key derived for signing (CSRF tokens and the like), never used to encrypt.
    mac_key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key(key: [u8; 32]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"patron mac key v1");
        h.update(key);
        SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            mac_key: h.finalize().into(),
        }
    }

    /// A key given in configuration: 32 bytes, standard base64.
    pub fn from_base64(b64: &str) -> Result<Self, StoreError> {
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|_| StoreError::Config("secret_key: not valid base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Config("secret_key: must decode to exactly 32 bytes".into())
        })?;
        Ok(Self::from_key(key))
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh random key.
    pub fn from_key_file(path: &Path) -> Result<Self, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(s) => Self::from_base64(&s)
                .map_err(|e| StoreError::Config(format!("key file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(path).map_err(|e| {
                    StoreError::Config(format!("cannot create key file {}: {e}", path.display()))
                })?;
                f.write_all(STANDARD.encode(key).as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| {
                        StoreError::Config(format!("cannot write key file {}: {e}", path.display()))
                    })?;
                tracing::info!(path = %path.display(), "generated a new secret key file");
                Ok(Self::from_key(key))
            }
            Err(e) => Err(StoreError::Config(format!(
                "cannot read key file {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn encrypt(&self, column: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: column.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1.{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn decrypt(&self, column: &str, stored: &str) -> Result<String, StoreError> {
        let body = stored
            .strip_prefix("v1.")
            .ok_or(StoreError::Secret("unknown format"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| StoreError::Secret("not base64"))?;
        if raw.len() < 12 + 16 {
            return Err(StoreError::Secret("too short"));
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: column.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Secret("wrong key or tampered value"))?;
        String::from_utf8(pt).map_err(|_| StoreError::Secret("not UTF-8"))
    }

    /// Key material for HMACs (CSRF tokens, signed links). Distinct from the encryption key.
    pub fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let b = SecretBox::from_key([7; 32]);
        let enc = b.encrypt("tenants.wx_app_secret", "s3cret");
        assert!(!enc.contains("s3cret"));
        assert_eq!(b.decrypt("tenants.wx_app_secret", &enc).unwrap(), "s3cret");
        assert!(
            b.decrypt("tenants.wx_token", &enc).is_err(),
            "bound to its column"
        );
        let other = SecretBox::from_key([8; 32]);
        assert!(other.decrypt("tenants.wx_app_secret", &enc).is_err());
        let mut bad = enc.clone();
        bad.pop();
        bad.push(if enc.ends_with('A') { 'B' } else { 'A' });
        assert!(b.decrypt("tenants.wx_app_secret", &bad).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = SecretBox::from_key_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = SecretBox::from_key_file(&path).unwrap();
        let enc = a.encrypt("c", "x");
        assert_eq!(b.decrypt("c", &enc).unwrap(), "x");
    }

    #[test]
    fn bad_configured_keys_are_named() {
        assert!(SecretBox::from_base64("nope!").is_err());
        assert!(SecretBox::from_base64("AAAA").is_err());
    }
}
