//! Shoal's S3 gateway, in the spirit of Ceph's radosgw: S3 requests become object
//! operations on the cluster. The gateway keeps no state of its own — users, buckets, bucket
//! indexes, upload records and the GC queue all live in the cluster — so any number of
//! gateways can serve the same buckets and a crashed one loses nothing.
//!
//! The S3 protocol (routing, XML, SigV4 incl. presigned URLs and aws-chunked bodies) is the
//! `s3s` crate's; this crate implements its [`s3s::S3`] trait over [`rados`]. See
//! ARCHITECTURE.md ("S3 gateway") for the data layout and the write protocol.

pub mod access;
pub mod acl;
pub mod authz;
pub mod browsers;
pub mod buckets;
pub mod classes;
pub mod cluster;
pub mod cors;
pub mod error;
pub mod gc;
pub mod ids;
pub mod index;
pub mod janitor;
pub mod layout;
pub mod lc_worker;
pub mod lifecycle;
pub mod listing;
pub mod lock;
pub mod multipart;
pub mod objects;
pub mod policy;
pub mod precheck;
pub mod presign;
pub mod records;
pub mod s3;
pub mod server;
pub mod soft_delete;
pub mod stats;
pub mod storage_class;
pub mod text;
pub mod tier_worker;
pub mod tiering;
pub mod ttl_cache;
pub mod unsupported;
pub mod users;
pub mod versions;

pub use cluster::{Cluster, PoolSettings};
pub use error::{GwError, GwResult};
pub use server::{GatewayConfig, run};
