//! Bearer secrets Wardline hands out (invite links, portal refresh tokens, sign-in codes): 256 bits
//! from the operating system's CSPRNG, base64url without padding. The database keeps only their
//! SHA-256, computed here so the token never reaches it (nor its statement logs); SQL that
//! checks a presented token computes the same `sha256(convert_to(token, 'UTF8'))`.

use aes_gcm::aead::{rand_core::RngCore, OsRng};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

/// A new random token: 43 URL-safe characters.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new referral code: 12 URL-safe characters (72 random bits). Not a secret (it is shared to
/// be passed on), only unguessable, so the database keeps it as it is.
pub fn referral_code() -> String {
    let mut bytes = [0u8; 9];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `raw` has the shape of a [`referral_code`].
pub fn is_referral_code(raw: &str) -> bool {
    raw.len() == 12
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A one-time sign-in code: six decimal digits, uniform (rejection sampling, no modulo bias).
pub fn code() -> String {
    // The largest multiple of 10^6 that fits in a u32; draws at or above it are redrawn.
    const LIMIT: u32 = 4_294_000_000;
    loop {
        let draw = OsRng.next_u32();
        if draw < LIMIT {
            return format!("{:06}", draw % 1_000_000);
        }
    }
}

/// The SHA-256 of a token, hex-encoded: what the database stores.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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
        let code = code();
        assert!(code.len() == 6 && code.bytes().all(|c| c.is_ascii_digit()));
        let referral = referral_code();
        assert!(is_referral_code(&referral), "{referral}");
        assert_ne!(referral, referral_code());
        for bad in ["", "short", "thirteen-char", "twelve-char!"] {
            assert!(!is_referral_code(bad), "{bad}");
        }
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
