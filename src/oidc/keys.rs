//! The provider's id_token signing keys: read from PEM files (or generated when
//! none are configured), published as the JWKS, used to sign id_tokens and to
//! check the ones that come back as logout hints.
//!
//! Rotation: the first key of each algorithm signs; the keys after it are only
//! published, so tokens signed before a rotation still verify at the relying
//! party. A key's `kid` is its RFC 7638 thumbprint: it changes exactly when
//! the key does, and there is nothing to configure or get wrong.
//!
//! All JOSE (JWS, JWK, thumbprints) is jsonwebtoken's; aws-lc-rs only parses,
//! checks and generates the private keys, which jsonwebtoken's PEM loader
//! cannot all do (SEC1 EC keys, curve and size checks, key generation).

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every algorithm a key can have, in the order discovery lists them: RS256
/// first, as OpenID Connect requires every provider to support it.
const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Why the signing keys cannot be loaded, generated or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing key {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("signing key {}: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
    #[error("signing key {} is the same key as {}", path.display(), earlier.display())]
    Duplicate { path: PathBuf, earlier: PathBuf },
    #[error(
        "no RSA key among the signing keys ({}): OpenID Connect requires RS256",
        list(paths)
    )]
    NoRsaKey { paths: Vec<PathBuf> },
    #[error("cannot generate an RSA signing key: {0}")]
    Generate(String),
    #[error("no signing key for {0:?}")]
    NoKeyFor(Algorithm),
    #[error("cannot sign the token: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "none listed".to_owned();
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// The provider's signing keys: what signs id_tokens and what the JWKS publishes.
#[derive(Clone)]
pub struct SigningKeys(Arc<[Key]>);

/// One key pair, with everything derived from it once at load.
struct Key {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    /// Built from the published JWK, so what we verify with is what RPs verify with.
    decoding: DecodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<_> = self.0.iter().map(|k| (k.alg, k.kid.as_str())).collect();
        f.debug_struct("SigningKeys").field("keys", &keys).finish()
    }
}

impl SigningKeys {
    /// Loads PEM files (PKCS#8 or PKCS#1 RSA, PKCS#8/SEC1 EC P-256, PKCS#8 Ed25519), in order.
    /// The algorithm follows from the key type: RSA → RS256, P-256 → ES256, Ed25519 → EdDSA.
    /// At least one RSA key is required (OpenID Connect requires RS256): error otherwise.
    pub fn load(paths: &[PathBuf]) -> Result<Self, KeyError> {
        let mut keys: Vec<(Key, &Path)> = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read(path).map_err(|source| KeyError::Read {
                path: path.clone(),
                source,
            })?;
            let key = Key::from_pem(&text).map_err(|reason| KeyError::Unusable {
                path: path.clone(),
                reason,
            })?;
            // The same key twice would publish one kid twice and make rotation
            // order ambiguous: almost certainly a mistake in the config.
            if let Some((_, earlier)) = keys.iter().find(|(k, _)| k.kid == key.kid) {
                return Err(KeyError::Duplicate {
                    path: path.clone(),
                    earlier: earlier.to_path_buf(),
                });
            }
            keys.push((key, path));
        }
        if !keys.iter().any(|(k, _)| k.alg == Algorithm::RS256) {
            return Err(KeyError::NoRsaKey {
                paths: paths.to_vec(),
            });
        }
        Ok(Self(keys.into_iter().map(|(k, _)| k).collect()))
    }

    /// One fresh RSA-2048 key (RS256), for servers with none configured.
    pub fn generate() -> Result<Self, KeyError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        // aws-lc-rs exports only PKCS#8, while jsonwebtoken's RSA keys are the
        // PKCS#1 inside it: go the way a PKCS#8 file goes, so both are one path.
        let block = pem::Pem::new("PRIVATE KEY", pkcs8.as_ref());
        let key = Key::from_block(&block).map_err(KeyError::Generate)?;
        Ok(Self(Arc::new([key])))
    }

    /// The algorithms these keys can sign with, RS256 first: for discovery's
    /// id_token_signing_alg_values_supported (e.g. ["RS256","ES256"]).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        ALGORITHMS
            .into_iter()
            .filter(|alg| self.supports(*alg))
            .collect()
    }

    pub fn supports(&self, alg: Algorithm) -> bool {
        self.signer(alg).is_some()
    }

    /// Signs `claims` as a JWT with the first key of `alg`; header carries `kid` and `typ: "JWT"`.
    pub fn sign<T: serde::Serialize>(
        &self,
        alg: Algorithm,
        claims: &T,
    ) -> Result<String, KeyError> {
        let key = self.signer(alg).ok_or(KeyError::NoKeyFor(alg))?;
        key.sign(claims).map_err(KeyError::Sign)
    }

    /// Every public key, each with kid, alg, use="sig": the body of jwks_uri.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.0.iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    /// Checks that `token` was signed by one of these keys (any algorithm we hold,
    /// chosen by the token's kid — never by a client-chosen `alg` we do not hold;
    /// `none` and HS* refused) and that its `iss` is `issuer`. Expiry and audience are NOT
    /// checked (an RP-initiated-logout id_token_hint may be expired). Returns the claims.
    pub fn verify_hint<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
    ) -> Option<T> {
        // `alg: none` does not even parse as a header here.
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let key = self.0.iter().find(|k| k.kid == kid)?;
        // The key fixes the algorithm; the header may only agree with it. This
        // refuses e.g. HS256 "signed" with our published RSA key as the secret.
        if header.alg != key.alg {
            return None;
        }
        let mut validation = Validation::new(key.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        // jsonwebtoken skips the issuer check when the claim is absent: require it.
        validation.set_required_spec_claims(&["iss"]);
        validation.set_issuer(&[issuer]);
        jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The key that signs with `alg`: the first one listed.
    fn signer(&self, alg: Algorithm) -> Option<&Key> {
        self.0.iter().find(|k| k.alg == alg)
    }
}

impl Key {
    /// The one private key in a PEM file. An `EC PARAMETERS` block, which
    /// `openssl ecparam -genkey` writes before the key, is skipped.
    fn from_pem(text: &[u8]) -> Result<Self, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("not PEM: {e}"))?;
        let mut keys = blocks.iter().filter(|b| b.tag() != "EC PARAMETERS");
        match (keys.next(), keys.next()) {
            (Some(block), None) => Self::from_block(block),
            (None, _) => Err("holds no PEM private key".to_owned()),
            (Some(_), Some(_)) => Err("holds more than one PEM block: one key per file".to_owned()),
        }
    }

    fn from_block(block: &pem::Pem) -> Result<Self, String> {
        let (alg, encoding) = private_key(block)?;
        Self::new(alg, encoding)
    }

    fn new(alg: Algorithm, encoding: EncodingKey) -> Result<Self, String> {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg)
            .map_err(|e| format!("cannot derive its public key: {e}"))?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| format!("cannot compute its thumbprint: {e}"))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk)
            .map_err(|e| format!("cannot read back its public key: {e}"))?;
        let key = Self {
            alg,
            kid,
            encoding,
            decoding,
            jwk,
        };
        key.self_test()?;
        Ok(key)
    }

    fn sign<T: serde::Serialize>(&self, claims: &T) -> jsonwebtoken::errors::Result<String> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// Signs and verifies once, so a key whose published half does not match
    /// (or that the signer cannot use) fails at start-up, not at first login.
    fn self_test(&self) -> Result<(), String> {
        let failed = |e: jsonwebtoken::errors::Error| format!("fails a test signature: {e}");
        let token = self
            .sign(&serde_json::json!({ "test": true }))
            .map_err(failed)?;
        let mut validation = Validation::new(self.alg);
        validation.validate_exp = false;
        validation.set_required_spec_claims::<&str>(&[]);
        jsonwebtoken::decode::<serde_json::Value>(&token, &self.decoding, &validation)
            .map_err(failed)?;
        Ok(())
    }
}

/// The algorithm a private key signs with and the key in the DER form
/// jsonwebtoken's aws-lc backend wants (RSA: PKCS#1; EC and Ed25519: PKCS#8).
fn private_key(block: &pem::Pem) -> Result<(Algorithm, EncodingKey), String> {
    let der = block.contents();
    match block.tag() {
        "RSA PRIVATE KEY" => {
            check_rsa(der)?;
            Ok((Algorithm::RS256, EncodingKey::from_rsa_der(der)))
        }
        "EC PRIVATE KEY" => p256(der),
        "PRIVATE KEY" => {
            // jsonwebtoken reads the key type from PKCS#8's algorithm
            // identifier; only its RSA loader also unwraps the key (to PKCS#1).
            let text = pem::encode(block);
            if let Ok(key) = EncodingKey::from_rsa_pem(text.as_bytes()) {
                check_rsa(key.as_bytes())?;
                Ok((Algorithm::RS256, key))
            } else if EncodingKey::from_ec_pem(text.as_bytes()).is_ok() {
                p256(der)
            } else if EncodingKey::from_ed_pem(text.as_bytes()).is_ok() {
                ed25519(der)
            } else {
                Err("not an RSA, EC P-256 or Ed25519 private key".to_owned())
            }
        }
        "ENCRYPTED PRIVATE KEY" => {
            Err("is encrypted: store it unencrypted, readable only by the server".to_owned())
        }
        other => Err(format!("holds a {other:?} PEM block, not a private key")),
    }
}

/// A PKCS#1 RSA key aws-lc accepts for signing (2048 to 8192 bits).
fn check_rsa(pkcs1: &[u8]) -> Result<(), String> {
    RsaKeyPair::from_der(pkcs1)
        .map(drop)
        .map_err(|e| format!("not a usable RSA key (2048 to 8192 bits): {e}"))
}

/// A P-256 key from PKCS#8 or SEC1, as PKCS#8. Other curves are refused:
/// ES256 is P-256 by definition.
fn p256(der: &[u8]) -> Result<(Algorithm, EncodingKey), String> {
    let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
        .map_err(|e| format!("not an EC P-256 key (the only curve for ES256): {e}"))?;
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|e| format!("cannot re-encode the EC key: {e}"))?;
    Ok((Algorithm::ES256, EncodingKey::from_ec_der(pkcs8.as_ref())))
}

/// An Ed25519 key as PKCS#8 v1, the only form jsonwebtoken derives a JWK from
/// (a v2 file, which also carries the public key, is checked and re-encoded).
fn ed25519(der: &[u8]) -> Result<(Algorithm, EncodingKey), String> {
    let pair =
        Ed25519KeyPair::from_pkcs8(der).map_err(|e| format!("not a usable Ed25519 key: {e}"))?;
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|e| format!("cannot re-encode the Ed25519 key: {e}"))?;
    Ok((Algorithm::EdDSA, EncodingKey::from_ed_der(pkcs8.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const ISSUER: &str = "https://login.example";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/oidc")
            .join(name)
    }

    fn load(names: &[&str]) -> Result<SigningKeys, KeyError> {
        let paths: Vec<PathBuf> = names.iter().map(|n| fixture(n)).collect();
        SigningKeys::load(&paths)
    }

    fn claims() -> Value {
        json!({ "iss": ISSUER, "sub": "alice", "aud": "rp", "exp": 4_000_000_000u64 })
    }

    fn kid_of(token: &str) -> String {
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
    }

    /// Verifies as a relying party would: with a key built from the published
    /// JWK that the token's kid names, not with anything of ours.
    fn verify_as_rp(keys: &SigningKeys, token: &str, alg: Algorithm) -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, alg);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let jwks = keys.jwks();
        let jwk = jwks.find(&header.kid.unwrap()).expect("kid is in the JWKS");
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_audience(&["rp"]);
        validation.set_issuer(&[ISSUER]);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn keys_of_every_type_and_encoding_load_with_their_algorithm() {
        for (name, alg) in [
            ("rsa_a.pem", Algorithm::RS256),
            ("rsa_b.pem", Algorithm::RS256),
            ("ec.pem", Algorithm::ES256),
            ("ec_sec1.pem", Algorithm::ES256),
            ("ed25519.pem", Algorithm::EdDSA),
        ] {
            // Only a set with an RSA key loads.
            let names = if alg == Algorithm::RS256 {
                vec![name]
            } else {
                vec!["rsa_a.pem", name]
            };
            let keys = load(&names).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(keys.supports(alg), "{name}");
            let token = keys.sign(alg, &claims()).unwrap();
            assert_eq!(verify_as_rp(&keys, &token, alg)["sub"], "alice", "{name}");
        }
    }

    #[test]
    fn keys_sign_and_verify_with_every_algorithm_rs256_listed_first() {
        let keys = load(&["ed25519.pem", "ec.pem", "rsa_a.pem"]).unwrap();
        assert_eq!(
            keys.algorithms(),
            [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]
        );
        for alg in keys.algorithms() {
            let token = keys.sign(alg, &claims()).unwrap();
            assert_eq!(verify_as_rp(&keys, &token, alg), claims());
            assert_eq!(keys.verify_hint::<Value>(&token, ISSUER), Some(claims()));
        }
        assert!(!keys.supports(Algorithm::RS384));
        assert!(!keys.supports(Algorithm::HS256));
        assert!(matches!(
            keys.sign(Algorithm::PS256, &claims()),
            Err(KeyError::NoKeyFor(Algorithm::PS256))
        ));
    }

    #[test]
    fn keys_without_an_rsa_key_are_refused() {
        assert!(matches!(
            load(&["ec.pem", "ed25519.pem"]),
            Err(KeyError::NoRsaKey { .. })
        ));
        let err = SigningKeys::load(&[]).unwrap_err();
        assert!(matches!(err, KeyError::NoRsaKey { .. }), "{err}");
    }

    #[test]
    fn keys_that_are_missing_garbage_or_unfit_are_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("qrlogin-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "this is not a key").unwrap();
        let public = fixture("rsa_a.pub.pem");
        let two = dir.join("two.pem");
        let mut both = std::fs::read(fixture("rsa_a.pem")).unwrap();
        both.extend(std::fs::read(fixture("rsa_b.pem")).unwrap());
        std::fs::write(&two, both).unwrap();
        for path in [
            fixture("missing.pem"),
            garbage,
            public,
            two,
            fixture("ec_p384.pem"),
            fixture("rsa_1024.pem"),
        ] {
            let err = SigningKeys::load(&[fixture("rsa_a.pem"), path.clone()]).unwrap_err();
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
        let err = load(&["rsa_a.pem", "rsa_a.pem"]).unwrap_err();
        assert!(matches!(err, KeyError::Duplicate { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keys_kid_in_header_is_a_kid_of_the_jwks() {
        let keys = load(&["rsa_a.pem", "ec.pem"]).unwrap();
        let kids: Vec<String> = keys
            .jwks()
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        for alg in keys.algorithms() {
            let token = keys.sign(alg, &claims()).unwrap();
            assert!(kids.contains(&kid_of(&token)));
        }
        // The kid is the RFC 7638 thumbprint, so it survives a reload.
        assert_eq!(
            load(&["rsa_a.pem"]).unwrap().jwks().keys[0].common.key_id,
            Some(kids[0].clone())
        );
    }

    #[test]
    fn keys_rotation_signs_with_the_first_and_still_verifies_the_others() {
        let old = load(&["rsa_b.pem"]).unwrap();
        let old_token = old.sign(Algorithm::RS256, &claims()).unwrap();

        let rotated = load(&["rsa_a.pem", "rsa_b.pem"]).unwrap();
        let a_kid = load(&["rsa_a.pem"]).unwrap().jwks().keys[0]
            .common
            .key_id
            .clone();
        let new_token = rotated.sign(Algorithm::RS256, &claims()).unwrap();
        assert_eq!(Some(kid_of(&new_token)), a_kid);
        assert_eq!(rotated.jwks().keys.len(), 2);
        assert!(rotated.jwks().find(&kid_of(&old_token)).is_some());
        assert_eq!(
            verify_as_rp(&rotated, &old_token, Algorithm::RS256),
            claims()
        );
        assert_eq!(
            rotated.verify_hint::<Value>(&old_token, ISSUER),
            Some(claims())
        );
    }

    #[test]
    fn keys_verify_hint_accepts_an_expired_token_but_no_forgery() {
        let keys = load(&["rsa_a.pem", "ec.pem"]).unwrap();
        let rsa_kid = keys.jwks().keys[0].common.key_id.clone().unwrap();
        let mut expired = claims();
        expired["exp"] = json!(1);
        let token = keys.sign(Algorithm::RS256, &expired).unwrap();
        assert_eq!(keys.verify_hint::<Value>(&token, ISSUER), Some(expired));

        // Wrong or missing issuer.
        assert_eq!(
            keys.verify_hint::<Value>(&token, "https://other.example"),
            None
        );
        let no_iss = keys
            .sign(Algorithm::RS256, &json!({ "sub": "alice" }))
            .unwrap();
        assert_eq!(keys.verify_hint::<Value>(&no_iss, ISSUER), None);

        // Signed by a key we do not hold, under our kid or its own.
        let other = load(&["rsa_b.pem"]).unwrap();
        let foreign = other.sign(Algorithm::RS256, &claims()).unwrap();
        assert_eq!(keys.verify_hint::<Value>(&foreign, ISSUER), None);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(rsa_kid.clone());
        let b_key =
            EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa_b.pem")).unwrap()).unwrap();
        let forged = jsonwebtoken::encode(&header, &claims(), &b_key).unwrap();
        assert_eq!(keys.verify_hint::<Value>(&forged, ISSUER), None);

        // alg confusion: HS256 keyed with our public RSA key, under its kid.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(rsa_kid.clone());
        let public_pem = std::fs::read(fixture("rsa_a.pub.pem")).unwrap();
        let confused =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&public_pem))
                .unwrap();
        assert_eq!(keys.verify_hint::<Value>(&confused, ISSUER), None);

        // alg none, and an RSA token relabelled as another algorithm we hold.
        use base64::Engine as _;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let body = b64(claims());
        let none = format!("{}.{body}.", b64(json!({ "alg": "none", "kid": rsa_kid })));
        assert_eq!(keys.verify_hint::<Value>(&none, ISSUER), None);
        let signature = token.rsplit('.').next().unwrap();
        let relabelled = format!(
            "{}.{body}.{signature}",
            b64(json!({ "alg": "ES256", "kid": rsa_kid }))
        );
        assert_eq!(keys.verify_hint::<Value>(&relabelled, ISSUER), None);
        assert_eq!(keys.verify_hint::<Value>("not.a.jwt", ISSUER), None);
    }

    #[test]
    fn keys_jwks_publishes_public_halves_only() {
        let keys = load(&["rsa_a.pem", "rsa_b.pem", "ec.pem", "ed25519.pem"]).unwrap();
        let jwks = serde_json::to_value(keys.jwks()).unwrap();
        let published = jwks["keys"].as_array().unwrap();
        assert_eq!(published.len(), 4);
        for jwk in published {
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none(), "{private} in {jwk}");
            }
            assert_eq!(jwk["use"], "sig");
            assert!(jwk["kid"].is_string() && jwk["alg"].is_string(), "{jwk}");
        }
        let algs: Vec<&str> = published
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        assert_eq!(algs, ["RS256", "RS256", "ES256", "EdDSA"]);
        // Debug names keys by kid, and prints nothing of the keys themselves.
        let debug = format!("{keys:?}");
        assert!(
            debug.contains(published[0]["kid"].as_str().unwrap()),
            "{debug}"
        );
        assert!(!debug.contains(published[0]["n"].as_str().unwrap()));
    }

    #[test]
    fn keys_generated_are_fresh_working_rs256_keys() {
        let a = SigningKeys::generate().unwrap();
        let b = SigningKeys::generate().unwrap();
        assert_eq!(a.algorithms(), [Algorithm::RS256]);
        assert_ne!(a.jwks(), b.jwks());
        let token = a.sign(Algorithm::RS256, &claims()).unwrap();
        assert_eq!(verify_as_rp(&a, &token, Algorithm::RS256), claims());
        assert_eq!(b.verify_hint::<Value>(&token, ISSUER), None);
    }
}
