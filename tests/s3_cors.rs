//! CORS end to end: Put/Get/DeleteBucketCors through the SDK, browser preflights (OPTIONS)
//! allowed and refused, and the Access-Control-* headers on actual requests, presigned ones
//! included.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule, ObjectCannedAcl};
use common::gateway::Cluster;
use common::http::http_request;
use common::s3::{Must, expect_err, presigned_headers, presigned_target, put};

const APP: &str = "https://app.example.com";

fn rules() -> CorsConfiguration {
    CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .id("app")
                .allowed_origins("https://*.example.com")
                .allowed_methods("PUT")
                .allowed_methods("GET")
                .allowed_headers("content-*")
                .allowed_headers("x-amz-*")
                .expose_headers("ETag")
                .max_age_seconds(600)
                .build()
                .unwrap(),
        )
        .cors_rules(
            CorsRule::builder()
                .allowed_origins("*")
                .allowed_methods("HEAD")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_rules_answer_browsers() {
    let cluster = Cluster::start();
    let s3 = cluster.s3();
    let addr = cluster.addr;
    s3.create_bucket().bucket("web").send().await.must("create");
    s3.put_object()
        .bucket("web")
        .key("page.html")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"<html/>".to_vec().into())
        .send()
        .await
        .must("put");

    expect_err(
        s3.get_bucket_cors().bucket("web").send().await,
        404,
        Some("NoSuchCORSConfiguration"),
        "no rules yet",
    );
    let preflight = |origin: Option<&str>, method: &str, headers: &str| {
        let mut h: Vec<(&str, &str)> = vec![("Access-Control-Request-Method", method)];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        if !headers.is_empty() {
            h.push(("Access-Control-Request-Headers", headers));
        }
        http_request(addr, "OPTIONS", "/web/page.html", &h, b"")
    };
    let resp = preflight(Some(APP), "PUT", "");
    assert_eq!(resp.status, 403, "no rules: {}", resp.text());

    let bad = CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .allowed_origins("*")
                .allowed_methods("PATCH")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    expect_err(
        s3.put_bucket_cors()
            .bucket("web")
            .cors_configuration(bad)
            .send()
            .await,
        400,
        Some("InvalidRequest"),
        "a method CORS does not allow",
    );
    s3.put_bucket_cors()
        .bucket("web")
        .cors_configuration(rules())
        .send()
        .await
        .must("PutBucketCors");
    let got = s3.get_bucket_cors().bucket("web").send().await.must("get");
    assert_eq!(got.cors_rules().len(), 2);
    assert_eq!(got.cors_rules()[0].id(), Some("app"));
    assert_eq!(got.cors_rules()[0].max_age_seconds(), Some(600));
    assert_eq!(got.cors_rules()[1].allowed_methods(), ["HEAD"]);

    // Preflights: allowed, with what the rule gives; refused for another origin, method or
    // header; malformed without an Origin.
    let resp = preflight(Some(APP), "PUT", "Content-Type, x-amz-meta-a");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        resp.header("access-control-allow-methods"),
        Some("PUT, GET")
    );
    assert_eq!(
        resp.header("access-control-allow-headers"),
        Some("Content-Type, x-amz-meta-a")
    );
    assert_eq!(resp.header("access-control-max-age"), Some("600"));
    assert_eq!(
        resp.header("access-control-allow-credentials"),
        Some("true")
    );
    let vary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
    assert_eq!(resp.header("vary"), Some(vary));
    assert_eq!(preflight(Some("https://evil.test"), "PUT", "").status, 403);
    assert_eq!(preflight(Some(APP), "DELETE", "").status, 403);
    assert_eq!(preflight(Some(APP), "PUT", "Authorization").status, 403);
    let resp = preflight(Some("https://evil.test"), "HEAD", "");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(preflight(None, "PUT", "").status, 400);

    // Actual requests: anonymous, signed-by-URL, and from an origin no rule allows.
    let resp = http_request(addr, "GET", "/web/page.html", &[("Origin", APP)], b"");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("access-control-allow-origin"), Some(APP));
    assert_eq!(resp.header("access-control-expose-headers"), Some("ETag"));
    let resp = http_request(
        addr,
        "GET",
        "/web/page.html",
        &[("Origin", "https://evil.test")],
        b"",
    );
    assert_eq!(resp.status, 200, "CORS does not refuse; the browser does");
    assert_eq!(resp.header("access-control-allow-origin"), None);
    assert_eq!(resp.header("vary"), Some(vary), "refused origins vary too");
    put(&s3, "web", "private.txt", b"secret").await;
    let presigned = s3
        .get_object()
        .bucket("web")
        .key("private.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let mut headers = presigned_headers(&presigned);
    headers.push(("Origin".into(), APP.into()));
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp = http_request(addr, "GET", &presigned_target(&presigned), &headers, b"");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.body, b"secret");
    assert_eq!(resp.header("access-control-allow-origin"), Some(APP));

    s3.delete_bucket_cors()
        .bucket("web")
        .send()
        .await
        .must("DeleteBucketCors");
    assert_eq!(preflight(Some(APP), "PUT", "").status, 403, "rules gone");
}
