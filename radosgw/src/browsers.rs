//! Browsers' cross-origin requests at the HTTP layer: s3s does not route `OPTIONS`, so the
//! preflight is answered here from the bucket's CORS rules ([`crate::cors`]), and the
//! responses of actual requests (presigned ones too) get their `Access-Control-*` headers.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use s3s::host::S3Host;
use s3s::{S3Error, S3ErrorCode};

use crate::buckets::Buckets;
use crate::cors::{CorsAnswer, CorsConfig};

/// What answering browsers needs: the buckets' rules, and how a request names its bucket.
#[derive(Clone)]
pub struct Browsers {
    /// Bucket records (their CORS rules, through the records' cache).
    pub buckets: Buckets,
    /// Virtual-hosted-style addressing, when the gateway has domains.
    pub host: Option<std::sync::Arc<dyn S3Host + Send + Sync>>,
}

/// An actual request's CORS facts, read before the request goes to s3s.
pub struct Asked {
    origin: String,
    method: String,
    bucket: String,
}

impl Browsers {
    /// The bucket a request names: by its host under a domain, else its path's first part.
    fn bucket_of(&self, headers: &HeaderMap, path: &str) -> Option<String> {
        if let Some(host) = &self.host
            && let Some(h) = headers.get(header::HOST).and_then(|h| h.to_str().ok())
            && let Ok(vh) = host.parse_host_header(h)
            && let Some(b) = vh.bucket()
        {
            return Some(b.to_owned());
        }
        let first = path.trim_start_matches('/').split('/').next()?;
        (!first.is_empty()).then(|| first.to_owned())
    }

    async fn rules(&self, bucket: &str) -> Option<CorsConfig> {
        match self.buckets.get_cached(bucket).await {
            Ok(Some(record)) => record.cors,
            _ => None,
        }
    }

    /// Answers an `OPTIONS` preflight with `headers` to `path`.
    pub async fn preflight(&self, headers: &HeaderMap, path: &str) -> Response {
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(origin), Some(method)) = (
            text(header::ORIGIN),
            text(header::ACCESS_CONTROL_REQUEST_METHOD),
        ) else {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin and Access-Control-Request-Method are needed.",
            );
        };
        let asked: Vec<String> = text(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let bucket = self.bucket_of(headers, path);
        let rules = match &bucket {
            Some(b) => self.rules(b).await,
            None => None,
        };
        let has_rules = rules.is_some();
        let mut resp = match rules.and_then(|r| r.preflight(origin, method, &asked)) {
            Some(answer) => {
                let mut resp = Response::new(Body::empty());
                add_headers(resp.headers_mut(), &answer);
                resp
            }
            None => error(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed.",
            ),
        };
        if has_rules {
            vary(resp.headers_mut());
        }
        resp
    }

    /// What an actual request asks of CORS, if it comes from a browser (has an Origin).
    pub fn asked(&self, req: &Request) -> Option<Asked> {
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?.to_owned();
        let bucket = self.bucket_of(req.headers(), req.uri().path())?;
        Some(Asked {
            origin,
            method: req.method().as_str().to_owned(),
            bucket,
        })
    }

    /// Adds the CORS headers the bucket's rules give the response to `asked`.
    pub async fn decorate(&self, resp: &mut Response, asked: Asked) {
        let Some(rules) = self.rules(&asked.bucket).await else {
            return;
        };
        vary(resp.headers_mut());
        if let Some(answer) = rules.actual(&asked.origin, &asked.method) {
            add_headers(resp.headers_mut(), &answer);
        }
    }
}

/// Whether a request is a preflight.
pub fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
}

fn add_headers(h: &mut HeaderMap, a: &CorsAnswer) {
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(header::ACCESS_CONTROL_ALLOW_ORIGIN, a.allow_origin.clone());
    if !a.allow_methods.is_empty() {
        set(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            a.allow_methods.join(", "),
        );
    }
    if !a.allow_headers.is_empty() {
        set(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            a.allow_headers.join(", "),
        );
    }
    if !a.expose_headers.is_empty() {
        set(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            a.expose_headers.join(", "),
        );
    }
    if let Some(age) = a.max_age_seconds {
        set(header::ACCESS_CONTROL_MAX_AGE, age.to_string());
    }
    if a.allow_credentials {
        set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".into());
    }
}

/// On every response of a bucket with CORS rules, allowed or not: the answer depends on
/// what the browser sent, so caches must not hand it to another request.
fn vary(h: &mut HeaderMap) {
    h.insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    );
}

/// An S3 error document with `code` (not every one is in s3s's list).
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom(code.to_owned().into()),
        message.to_owned(),
    );
    e.set_status_code(status);
    match e.to_http_response() {
        Ok(resp) => resp.map(Body::new),
        Err(_) => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = status;
            resp
        }
    }
}
