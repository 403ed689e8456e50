//! A bucket's CORS rules at the S3 interface: Put/Get/DeleteBucketCors. The rules answer
//! browsers in the server layer ([`crate::server`]), which s3s leaves `OPTIONS` to.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use crate::cors::{BadCors, CorsConfig, CorsRule};

pub(super) async fn put_bucket_cors(
    s3: &ShoalS3,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketCORS")
        .await?;
    let rules = req
        .input
        .cors_configuration
        .cors_rules
        .iter()
        .map(|r| CorsRule {
            id: r.id.clone(),
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: r.allowed_headers.clone().unwrap_or_default(),
            expose_headers: r.expose_headers.clone().unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    let config = CorsConfig { rules };
    config.validate().map_err(|e| match e {
        BadCors::Malformed(why) => s3_error!(MalformedXML, "{why}"),
        BadCors::Invalid(why) => s3_error!(InvalidRequest, "{why}"),
    })?;
    s3.buckets.set_cors(&bucket.name, Some(config)).await?;
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub(super) async fn get_bucket_cors(
    s3: &ShoalS3,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:GetBucketCORS")
        .await?;
    let Some(config) = bucket.cors else {
        return Err(s3_error!(
            NoSuchCORSConfiguration,
            "The CORS configuration does not exist"
        ));
    };
    let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let rules = config
        .rules
        .into_iter()
        .map(|r| CORSRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: some(r.allowed_headers),
            expose_headers: some(r.expose_headers),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    Ok(S3Response::new(GetBucketCorsOutput {
        cors_rules: Some(rules),
    }))
}

pub(super) async fn delete_bucket_cors(
    s3: &ShoalS3,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let bucket = s3
        .owner_call(&req, &req.input.bucket, "s3:PutBucketCORS")
        .await?;
    s3.buckets.set_cors(&bucket.name, None).await?;
    let mut resp = S3Response::new(DeleteBucketCorsOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}
