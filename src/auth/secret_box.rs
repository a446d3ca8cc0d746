//! AES-256-GCM for secrets at rest (TOTP seeds) under `APP_ENC_KEY`. The blob is
//! `version(1) || nonce(12) || ciphertext+tag`; the owner's id is the associated data, so a
//! blob copied onto another user's row does not decrypt.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, Generate, KeyInit, Payload},
};
use uuid::Uuid;

use crate::config::EncKey;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BoxError {
    #[error("APP_ENC_KEY is missing or invalid")]
    KeyMissing,
    #[error("the stored secret cannot be decrypted with the current APP_ENC_KEY")]
    Undecryptable,
}

fn cipher(key: &EncKey) -> Result<Aes256Gcm, BoxError> {
    match key {
        EncKey::Valid(bytes) => {
            Aes256Gcm::new_from_slice(&bytes.0).map_err(|_| BoxError::KeyMissing)
        }
        EncKey::Missing | EncKey::Invalid(_) => Err(BoxError::KeyMissing),
    }
}

pub fn seal(key: &EncKey, owner: Uuid, plaintext: &[u8]) -> Result<Vec<u8>, BoxError> {
    let cipher = cipher(key)?;
    let nonce = Nonce::generate();
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: owner.as_bytes(),
            },
        )
        .map_err(|_| BoxError::Undecryptable)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub fn open(key: &EncKey, owner: Uuid, blob: &[u8]) -> Result<Vec<u8>, BoxError> {
    let cipher = cipher(key)?;
    if blob.len() < 1 + NONCE_LEN + 16 || blob[0] != VERSION {
        return Err(BoxError::Undecryptable);
    }
    let nonce = Nonce::try_from(&blob[1..1 + NONCE_LEN]).map_err(|_| BoxError::Undecryptable)?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &blob[1 + NONCE_LEN..],
                aad: owner.as_bytes(),
            },
        )
        .map_err(|_| BoxError::Undecryptable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EncKeyBytes;

    #[test]
    fn seals_and_opens_only_for_the_owner_and_key() {
        let key = EncKey::Valid(EncKeyBytes([7; 32]));
        let owner = Uuid::now_v7();
        let blob = seal(&key, owner, b"seed").unwrap();
        assert_ne!(&blob[13..], b"seed");
        assert_eq!(open(&key, owner, &blob).unwrap(), b"seed");
        assert_eq!(
            open(&key, Uuid::now_v7(), &blob),
            Err(BoxError::Undecryptable)
        );
        let other = EncKey::Valid(EncKeyBytes([8; 32]));
        assert_eq!(open(&other, owner, &blob), Err(BoxError::Undecryptable));
        assert_eq!(
            seal(&EncKey::Missing, owner, b"x"),
            Err(BoxError::KeyMissing)
        );
        // A fresh nonce every time.
        assert_ne!(seal(&key, owner, b"seed").unwrap(), blob);
    }
}
