//! Bearer secrets Wardline hands out (invite links, and later portal refresh tokens): 256 bits
//! from the operating system's CSPRNG, base64url without padding. The database keeps only their
//! SHA-256 (`sha256(convert_to(token, 'UTF8'))`), so a leaked table grants nothing.

use aes_gcm::aead::{rand_core::RngCore, OsRng};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

/// A new random token: 43 URL-safe characters.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_and_distinct() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }
}
