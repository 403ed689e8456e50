//! Cross-origin resource sharing, as S3 answers it: a bucket's CORS rules decide whether a
//! browser's request from another origin may go ahead (the preflight, `OPTIONS`) and which
//! `Access-Control-*` headers an actual request's response carries. Pure: the server layer
//! reads the rules from the bucket's record and writes the headers.

use serde::{Deserialize, Serialize};

use crate::policy::glob;

/// Methods a rule may allow.
const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];
/// S3's limit on rules per bucket.
const MAX_RULES: usize = 100;

/// One rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// Its ID, if given.
    pub id: Option<String>,
    /// Origins, each with at most one `*`.
    pub allowed_origins: Vec<String>,
    /// Methods (GET, PUT, POST, DELETE, HEAD).
    pub allowed_methods: Vec<String>,
    /// Headers a preflight may ask for, each with at most one `*`.
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may read.
    pub expose_headers: Vec<String>,
    /// How long a browser may cache the preflight's answer.
    pub max_age_seconds: Option<i32>,
}

/// A bucket's rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsConfig {
    /// In the order given: the first that matches answers.
    pub rules: Vec<CorsRule>,
}

/// Why a configuration was refused, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadCors {
    /// Its structure: no rules, a rule without origins or methods (S3's MalformedXML).
    #[error("{0}")]
    Malformed(String),
    /// Its values: a method CORS has not, too many wildcards (S3's InvalidRequest).
    #[error("{0}")]
    Invalid(String),
}

/// The headers an allowed request's response carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsAnswer {
    /// Access-Control-Allow-Origin: `*` when the rule allows any origin, else the origin.
    pub allow_origin: String,
    /// Access-Control-Allow-Methods (preflight).
    pub allow_methods: Vec<String>,
    /// Access-Control-Allow-Headers (preflight): the headers asked for.
    pub allow_headers: Vec<String>,
    /// Access-Control-Expose-Headers.
    pub expose_headers: Vec<String>,
    /// Access-Control-Max-Age (preflight).
    pub max_age_seconds: Option<i32>,
    /// Access-Control-Allow-Credentials: true unless any origin is allowed.
    pub allow_credentials: bool,
}

impl CorsConfig {
    /// Checks a configuration as S3 does when it is put.
    pub fn validate(&self) -> Result<(), BadCors> {
        if self.rules.is_empty() {
            return Err(BadCors::Malformed(
                "a CORS configuration needs at least one rule".into(),
            ));
        }
        if self.rules.len() > MAX_RULES {
            return Err(BadCors::Invalid(format!("at most {MAX_RULES} CORS rules")));
        }
        for rule in &self.rules {
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(BadCors::Malformed(
                    "a CORS rule needs an AllowedOrigin and an AllowedMethod".into(),
                ));
            }
            if let Some(m) = rule
                .allowed_methods
                .iter()
                .find(|m| !METHODS.contains(&m.as_str()))
            {
                return Err(BadCors::Invalid(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                )));
            }
            let stars = |s: &String| s.matches('*').count() > 1;
            if let Some(o) = rule.allowed_origins.iter().find(|o| stars(o)) {
                return Err(BadCors::Invalid(format!(
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                )));
            }
            if let Some(h) = rule.allowed_headers.iter().find(|h| stars(h)) {
                return Err(BadCors::Invalid(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
        }
        Ok(())
    }

    /// The answer to a preflight from `origin` for `method` with the headers it will send
    /// (`Access-Control-Request-Headers`), if a rule allows it all.
    pub fn preflight(&self, origin: &str, method: &str, headers: &[String]) -> Option<CorsAnswer> {
        let rule = self.rules.iter().find(|r| {
            r.allows(origin, method)
                && headers.iter().all(|h| {
                    r.allowed_headers
                        .iter()
                        .any(|p| glob(&p.to_ascii_lowercase(), &h.to_ascii_lowercase()))
                })
        })?;
        let mut answer = rule.answer(origin);
        answer.allow_methods = rule.allowed_methods.clone();
        answer.allow_headers = headers.to_vec();
        answer.max_age_seconds = rule.max_age_seconds;
        Some(answer)
    }

    /// The headers of an actual request from `origin` with `method`, if a rule allows it.
    pub fn actual(&self, origin: &str, method: &str) -> Option<CorsAnswer> {
        let rule = self.rules.iter().find(|r| r.allows(origin, method))?;
        let mut answer = rule.answer(origin);
        answer.allow_methods = vec![method.to_owned()];
        Some(answer)
    }
}

impl CorsRule {
    fn allows(&self, origin: &str, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
            && self.allowed_origins.iter().any(|o| glob(o, origin))
    }

    fn answer(&self, origin: &str) -> CorsAnswer {
        let any = self.allowed_origins.iter().any(|o| o == "*");
        CorsAnswer {
            allow_origin: if any { "*".into() } else { origin.to_owned() },
            allow_methods: Vec::new(),
            allow_headers: Vec::new(),
            expose_headers: self.expose_headers.clone(),
            max_age_seconds: None,
            allow_credentials: !any,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(600),
            ..CorsRule::default()
        }
    }

    #[test]
    fn the_first_matching_rule_answers() {
        let c = CorsConfig {
            rules: vec![
                rule(
                    &["https://*.example.com"],
                    &["PUT", "POST"],
                    &["content-*", "x-amz-*"],
                ),
                rule(&["*"], &["GET", "HEAD"], &[]),
            ],
        };
        c.validate().unwrap();
        let a = c
            .preflight("https://app.example.com", "PUT", &["Content-Type".into()])
            .unwrap();
        assert_eq!(a.allow_origin, "https://app.example.com");
        assert!(a.allow_credentials);
        assert_eq!(a.allow_methods, ["PUT", "POST"]);
        assert_eq!(a.max_age_seconds, Some(600));
        assert!(
            c.preflight("https://app.example.com", "PUT", &["authorization".into()])
                .is_none()
        );
        assert!(c.preflight("https://evil.test", "PUT", &[]).is_none());
        let a = c.preflight("https://evil.test", "GET", &[]).unwrap();
        assert_eq!(a.allow_origin, "*");
        assert!(!a.allow_credentials);
        assert!(c.actual("https://evil.test", "DELETE").is_none());
        assert_eq!(
            c.actual("https://a.example.com", "POST")
                .unwrap()
                .expose_headers,
            ["ETag"]
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        for bad in [
            CorsConfig::default(),
            CorsConfig {
                rules: vec![rule(&["*"], &["PATCH"], &[])],
            },
            CorsConfig {
                rules: vec![rule(&["*.*.example.com"], &["GET"], &[])],
            },
            CorsConfig {
                rules: vec![rule(&[], &["GET"], &[])],
            },
            CorsConfig {
                rules: vec![rule(&["*"], &["GET"], &["x-*-*"])],
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
