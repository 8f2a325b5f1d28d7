//! Client secrets of confidential OpenID Connect clients: the config holds
//! only their SHA-256, so a leaked config file logs no one in.
//!
//! A generated secret has 256 bits of entropy, so a fast hash is enough: no
//! one can search that space, salted or not (see [`crate::secret`]).

use crate::secret::Secret;

/// Lower-case hex SHA-256 of the secret's UTF-8 bytes: the value of a
/// client's `client_secret_sha256` in `[[clients]]`.
pub fn client_secret_sha256(secret: &str) -> String {
    Secret::from_client(secret).hash().to_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_secret_is_the_sha256_of_the_text() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            client_secret_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            client_secret_sha256(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
