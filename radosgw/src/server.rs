//! The gateway process: opens the pools, serves S3 over HTTP (s3s inside axum), and runs
//! the GC and janitor loops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::serve::ListenerExt;
use rados::RadosClient;
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use tower::Service;

use crate::access::Access;
use crate::browsers::Browsers;
use crate::buckets::Buckets;
use crate::cluster::{Cluster, PoolSettings};
use crate::error::{GwError, GwResult};
use crate::lc_worker::{self, LcSettings};
use crate::objects::{ObjectSettings, Objects};
use crate::s3::ShoalS3;
use crate::users::Users;
use crate::{gc, janitor};

/// Everything a gateway is configured with.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where to serve S3.
    pub listen: SocketAddr,
    /// The region it answers for (SigV4 scope, LocationConstraint).
    pub region: String,
    /// Base domains for virtual-hosted-style requests (`bucket.domain`); path style always
    /// works.
    pub domains: Vec<String>,
    /// Index shards of new buckets.
    pub index_shards: u32,
    /// Object write settings.
    pub objects: ObjectSettings,
    /// How to create missing pools.
    pub pools: PoolSettings,
    /// The lifecycle worker.
    pub lifecycle: LcSettings,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7480)),
            region: "us-east-1".to_owned(),
            domains: Vec::new(),
            index_shards: 8,
            objects: ObjectSettings::default(),
            pools: PoolSettings::default(),
            lifecycle: LcSettings::default(),
        }
    }
}

/// The signature layer's key lookup.
struct KeyLookup(Arc<Users>);

#[async_trait::async_trait]
impl S3Auth for KeyLookup {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<SecretKey> {
        self.0.get_secret_key(access_key).await
    }
}

/// Virtual-hosted-style addressing: `bucket.DOMAIN[:port]` names the bucket; any other
/// host (an IP address, `localhost`, the bare domain) is path style. (s3s's own parsers
/// take an unknown host for a CNAME'd bucket, which breaks path style on `127.0.0.1`.)
struct Domains(Vec<String>);

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<VirtualHost<'a>> {
        let name = host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        });
        for domain in &self.0 {
            if let Some(bucket) = name
                .strip_suffix(domain.as_str())
                .and_then(|b| b.strip_suffix('.'))
                .filter(|b| !b.is_empty())
            {
                return Ok(VirtualHost::new(domain.as_str()).with_bucket(bucket));
            }
        }
        Ok(VirtualHost::new(name))
    }
}

/// Builds the S3 service over `cluster`.
pub fn service(
    cluster: &Cluster,
    config: &GatewayConfig,
    buckets: &Buckets,
    reads: crate::tier_worker::ReadQueue,
) -> GwResult<S3Service> {
    let users = Arc::new(Users::new(cluster.meta.clone()));
    let buckets = buckets.clone();
    let s3 = ShoalS3 {
        users: users.clone(),
        buckets: buckets.clone(),
        objects: Objects::new(cluster.clone(), config.objects.clone()),
        region: config.region.clone(),
        lc_day: config.lifecycle.day,
        reads,
    };
    let mut builder = S3ServiceBuilder::new(s3);
    // s3s holds a browser's POST upload (its form's file) in memory before the operation
    // runs: cap it (S3 allows 5 GB; larger uploads go through PUT or multipart, which
    // stream), and [`router`] lets only a few POST uploads in at once.
    let mut s3s_config = s3s::config::S3Config::default();
    s3s_config.post_object_max_file_size = MAX_POST_FILE;
    s3s_config.form_max_fields_size = MAX_POST_FIELDS;
    s3s_config.form_max_field_size = MAX_POST_FIELDS;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        s3s_config,
    ))));
    builder.set_auth(KeyLookup(users));
    builder.set_access(Access { buckets });
    if !config.domains.is_empty() {
        builder.set_host(Domains(config.domains.clone()));
    }
    Ok(builder.build())
}

/// The largest file a browser's POST upload may carry (s3s holds it in memory).
pub const MAX_POST_FILE: u64 = 16 << 20;
/// The form's other fields together (a policy, a key, a few headers' worth).
const MAX_POST_FIELDS: usize = 256 << 10;
/// POST uploads held at once (with the limits above: at most about 130 MiB); more wait up
/// to [`POST_WAIT`], then are told to slow down.
const POSTS_AT_ONCE: usize = 8;
const POST_WAIT: Duration = Duration::from_secs(30);

/// The axum router serving `svc` for every path; browsers' preflights are answered before
/// s3s (which does not route `OPTIONS`), and responses to browsers get their CORS headers.
pub fn router(svc: S3Service, browsers: Browsers) -> Router {
    let posts = Arc::new(tokio::sync::Semaphore::new(POSTS_AT_ONCE));
    Router::new().fallback(move |mut req: Request| {
        let mut svc = svc.clone();
        let browsers = browsers.clone();
        let posts = posts.clone();
        // As s3s reads it (the mime crate: any case, leading spaces).
        let form_upload = req.method() == http::Method::POST
            && req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|t| t.to_str().ok())
                .is_some_and(|t| {
                    t.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("multipart/form-data")
                });
        merge_repeated(req.headers_mut(), http::header::CONTENT_ENCODING);
        let refused = crate::precheck::refusal(req.headers(), req.uri().query());
        let close = expects_continue_without_body(req.headers());
        // A preflight's headers and path, read before anything awaits (a request body is
        // not Sync).
        let preflight = crate::browsers::is_preflight(&req)
            .then(|| (req.headers().clone(), req.uri().path().to_owned()));
        let asked = browsers.asked(&req);
        async move {
            if let Some((headers, path)) = preflight {
                return with_request_id(browsers.preflight(&headers, &path).await).await;
            }
            // Held until the response is made: s3s has read the form's file by then.
            let _post = if form_upload {
                match tokio::time::timeout(POST_WAIT, posts.acquire_owned()).await {
                    Ok(permit) => permit.ok(),
                    Err(_) => {
                        let busy = s3s::s3_error!(SlowDown, "too many form uploads at once");
                        return match busy.to_http_response() {
                            Ok(resp) => with_request_id(resp.map(axum::body::Body::new)).await,
                            Err(_) => Response::builder()
                                .status(503)
                                .body(axum::body::Body::empty())
                                .expect("static response"),
                        };
                    }
                }
            } else {
                None
            };
            let mut resp = if let Some(e) = refused
                && let Ok(resp) = e.to_http_response()
            {
                with_request_id(resp.map(axum::body::Body::new)).await
            } else {
                match Service::call(&mut svc, req).await {
                    Ok(resp) => with_request_id(resp.map(axum::body::Body::new)).await,
                    Err(e) => {
                        tracing::error!(error = ?e, "s3 service failed a request");
                        Response::builder()
                            .status(500)
                            .body(axum::body::Body::from("internal error"))
                            .expect("static response")
                    }
                }
            };
            if let Some(asked) = asked {
                browsers.decorate(&mut resp, asked).await;
            }
            if close {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            resp
        }
    })
}

/// Whether a request says `Expect: 100-continue` yet has an empty body. Such a request is
/// answered at once, with no `100 Continue` (there is nothing to continue), and botocore
/// (boto/botocore#3755) then keeps the final status it read early as the status of every
/// later response on that connection: the next PUT's response is misparsed and the client
/// stalls for its read timeout (60 s in the aws CLI) before it retries. Closing the
/// connection after such a response resets botocore's connection state; other clients only
/// reconnect once.
fn expects_continue_without_body(headers: &http::HeaderMap) -> bool {
    let expects = headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let empty = headers
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    expects && empty
}

/// Largest error body we rewrite (S3 error documents are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 << 10;

/// Gives every response an `x-amz-request-id`, and puts the same id in error documents
/// (`<RequestId>`), as S3 does, so a client's error report can be found in our logs.
async fn with_request_id(resp: Response) -> Response {
    let id = crate::ids::random_hex::<8>().to_uppercase();
    let (mut parts, body) = resp.into_parts();
    if let Ok(value) = http::HeaderValue::from_str(&id) {
        parts.headers.insert("x-amz-request-id", value);
    }
    let is_xml_error = parts.status.as_u16() >= 400
        && parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().ends_with(b"xml"));
    if !is_xml_error {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    // A POST form that breaks its own policy's conditions is S3's 403 AccessDenied
    // ("Invalid according to Policy"); s3s answers 400 InvalidPolicyDocument, which S3
    // keeps for a policy document that does not parse.
    if parts.status == http::StatusCode::BAD_REQUEST
        && text.contains("<Code>InvalidPolicyDocument</Code>")
        && text.contains("Policy condition")
    {
        parts.status = http::StatusCode::FORBIDDEN;
        text = text
            .replace(
                "<Code>InvalidPolicyDocument</Code>",
                "<Code>AccessDenied</Code>",
            )
            .replace("<Message>", "<Message>Invalid according to Policy: ");
    }
    let body = match text.rfind("</Error>") {
        Some(at) if !text.contains("<RequestId>") => {
            format!("{}<RequestId>{id}</RequestId>{}", &text[..at], &text[at..])
        }
        _ => text,
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    tracing::debug!(request_id = id, status = %parts.status, "error response");
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Joins a header sent on several lines into one comma-separated value, as HTTP allows and
/// SigV4 canonicalizes it (the AWS SDKs send `Content-Encoding: gzip` and
/// `Content-Encoding: aws-chunked` separately; s3s refuses repeated headers).
fn merge_repeated(headers: &mut http::HeaderMap, name: http::header::HeaderName) {
    if headers.get_all(&name).iter().nth(1).is_none() {
        return;
    }
    let joined: Vec<&[u8]> = headers
        .get_all(&name)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let joined = joined.join(&b","[..]);
    if let Ok(value) = http::HeaderValue::from_bytes(&joined) {
        headers.insert(name, value);
    }
}

/// Runs a gateway until `shutdown` resolves.
pub async fn run(
    client: Arc<RadosClient>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> GwResult<()> {
    let cluster = Cluster::open(client, &config.pools).await?;
    let (reads, read_queue) = crate::tier_worker::ReadQueue::new(config.lifecycle.day_ms());
    // One bucket-record cache for S3 and for browsers' preflights: a gateway sees its own
    // changes at once.
    let buckets = Buckets::new(&cluster, config.index_shards);
    let svc = service(&cluster, &config, &buckets, reads)?;
    let browsers = Browsers {
        buckets: buckets.clone(),
        host: (!config.domains.is_empty())
            .then(|| Arc::new(Domains(config.domains.clone())) as Arc<dyn S3Host + Send + Sync>),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| io_error(config.listen, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| io_error(config.listen, e))?;
    tracing::info!(addr = %local, region = config.region, "S3 gateway listening");

    let every =
        (config.objects.gc_delay / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let gc_task = tokio::spawn(gc::run(cluster.clone(), every));
    let objects = Objects::new(cluster.clone(), config.objects.clone());
    let every =
        (config.objects.janitor_after / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let janitor_task = tokio::spawn(janitor::run(buckets.clone(), objects.clone(), every));
    // Leases name the gateway: its address and a random part (a restart is a new holder,
    // which waits for its old self's leases to end).
    let holder = format!("{local}-{}", crate::ids::random_hex::<4>());
    let tier_task = tokio::spawn(crate::tier_worker::run(
        objects.clone(),
        read_queue,
        config.lifecycle.day_ms(),
    ));
    let lc_task = tokio::spawn(lc_worker::run(buckets, objects, config.lifecycle, holder));

    // Responses go out as soon as they are written: with Nagle's algorithm a small response
    // whose headers and body leave in two writes waits for the client's delayed ACK (40 ms).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    // The peer's address reaches bucket policies (aws:SourceIp).
    let app = router(svc, browsers).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    gc_task.abort();
    janitor_task.abort();
    lc_task.abort();
    tier_task.abort();
    served.map_err(|e| io_error(local, e))
}

fn io_error(addr: SocketAddr, e: std::io::Error) -> GwError {
    GwError::s3(
        s3s::S3ErrorCode::InternalError,
        format!("cannot serve on {addr}: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_under_a_domain_name_their_bucket_others_are_path_style() {
        let d = Domains(vec!["s3.example.test".into()]);
        let bucket = |host: &'static str| {
            d.parse_host_header(host)
                .unwrap()
                .bucket()
                .map(str::to_owned)
        };
        assert_eq!(bucket("photos.s3.example.test").as_deref(), Some("photos"));
        assert_eq!(
            bucket("photos.s3.example.test:7480").as_deref(),
            Some("photos")
        );
        assert_eq!(bucket("s3.example.test:7480"), None);
        assert_eq!(bucket("127.0.0.1:7480"), None);
        assert_eq!(bucket("localhost"), None);
        assert_eq!(bucket("[::1]:7480"), None);
    }

    #[test]
    fn only_an_empty_body_that_expects_continue_closes_the_connection() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, http::HeaderValue::from_static(v));
            }
            h
        };
        let close = |pairs| expects_continue_without_body(&headers(pairs));
        assert!(close(&[
            ("expect", "100-continue"),
            ("content-length", "0")
        ]));
        assert!(close(&[
            ("expect", "100-Continue"),
            ("content-length", "0")
        ]));
        assert!(!close(&[
            ("expect", "100-continue"),
            ("content-length", "5")
        ]));
        assert!(!close(&[("content-length", "0")]));
        assert!(!close(&[("expect", "100-continue")]));
    }
}
