//! The sender's side of every scheme: the headers (and, for Mailgun, the body) a sender would
//! produce. Used by `hookflow signature sign`, `hookflow send` and the tests, so a test delivery
//! is built exactly the way the verifier expects it.

use super::{
    discord, hmac, hubspot, linear, mailgun, paddle, sendgrid, slack, square, standard_webhooks,
    stripe, twilio, twitch, Checked, Scheme, SignatureSpec, SpecError,
};
use std::fmt;

/// What a sender signs.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    pub method: &'a str,
    /// The URL the sender posts to (`public_base_url` + path and query).
    pub url: &'a str,
    pub body: &'a [u8],
    /// Unix seconds put in the signed timestamp.
    pub now: u64,
    /// Message id for schemes that sign one (Standard Webhooks, Twitch); generated if `None`.
    pub id: Option<&'a str>,
}

/// A signed delivery: headers to add, and a replacement body for schemes that sign inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    /// `Some` when the scheme puts its signature into the body (Mailgun).
    pub body: Option<Vec<u8>>,
}

impl Signed {
    pub(crate) fn headers(headers: Vec<(String, String)>) -> Signed {
        Signed {
            headers,
            body: None,
        }
    }
}

/// Why a delivery could not be signed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{0}")]
    Input(String),
}

/// Private signing material for the asymmetric schemes.
enum SignKey {
    None,
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(Box<p256::ecdsa::SigningKey>),
}

/// A sender for one scheme. For `discord` the secret is the Ed25519 private key (32-byte seed in
/// hex); for `sendgrid` the P-256 private key (base64 DER PKCS#8 or SEC1, or PEM); for
/// `standard-webhooks` the `whsec_` secret; otherwise the shared secret.
pub struct Signer {
    c: Checked,
    key: SignKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.c.algorithm)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Builds a signer from the same spec the receiver uses; the first secret signs.
    pub fn from_spec(spec: &SignatureSpec) -> Result<Signer, SpecError> {
        let mut c = Checked::from_spec(spec)?;
        c.secrets.truncate(1);
        let Some(first) = c.secrets.first() else {
            return Err(SpecError::new("secret", "no secret to sign with"));
        };
        let key = match c.scheme {
            Scheme::Discord => {
                SignKey::Ed25519(Box::new(discord::parse_private_key(first, "secret")?))
            }
            Scheme::Sendgrid => {
                SignKey::P256(Box::new(sendgrid::parse_private_key(first, "secret")?))
            }
            Scheme::StandardWebhooks { .. } => {
                let decoded = standard_webhooks::decode_secret(first, "secret")?;
                c.secrets = vec![decoded];
                SignKey::None
            }
            _ => SignKey::None,
        };
        Ok(Signer { c, key })
    }

    /// The algorithm name.
    pub fn algorithm(&self) -> &str {
        &self.c.algorithm
    }

    /// Signs one delivery.
    pub fn sign(&self, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let c = &self.c;
        let secret = c.secrets.first().map(|s| s.bytes()).unwrap_or_default();
        let default_id = format!("msg_hookflow_{}", input.now);
        let id = input.id.unwrap_or(&default_id);
        Ok(match (c.scheme, &self.key) {
            (Scheme::Hmac(_) | Scheme::Shopify, _) => {
                let d = match c.scheme {
                    Scheme::Hmac(d) => d,
                    _ => hmac::Digest::Sha256,
                };
                hmac::sign_generic(&c.header, c.prefix.as_deref(), c.encoding, d, secret, input)
            }
            (Scheme::Token, _) => Signed::headers(vec![(
                c.header.clone(),
                String::from_utf8_lossy(secret).into_owned(),
            )]),
            (Scheme::Stripe, _) => stripe::sign(&c.header, secret, input),
            (Scheme::StandardWebhooks { svix }, _) => {
                standard_webhooks::sign(&c.header, svix, secret, id, input)
            }
            (Scheme::Slack, _) => slack::sign(&c.header, slack::SLACK, secret, input),
            (Scheme::Zoom, _) => slack::sign(&c.header, slack::ZOOM, secret, input),
            (Scheme::Twilio, _) => twilio::sign(&c.header, secret, input)?,
            (Scheme::Discord, SignKey::Ed25519(k)) => discord::sign(&c.header, k, input),
            (Scheme::Paddle, _) => paddle::sign(&c.header, secret, input),
            (Scheme::Linear, _) => linear::sign(&c.header, secret, input),
            (Scheme::Square, _) => square::sign(&c.header, secret, input),
            (Scheme::Twitch, _) => twitch::sign(&c.header, secret, id, input),
            (Scheme::HubspotV3, _) => hubspot::sign(&c.header, secret, input),
            (Scheme::Mailgun, _) => mailgun::sign(secret, id, input)?,
            (Scheme::Sendgrid, SignKey::P256(k)) => sendgrid::sign(&c.header, k, input),
            (Scheme::Discord | Scheme::Sendgrid, _) => {
                return Err(SignError::Input("no private key to sign with".into()))
            }
        })
    }
}
