//! The S3 gateway end to end: one monitor, three OSDs (OSD `i` on host `host{i}`) and one
//! `shoal gateway` process on a free TCP port, plus a user `tester` whose keys sign the SDK
//! client. Every process is killed by PID when the cluster drops (also on panic), and a
//! panicking test prints the tail of the gateway's log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

use super::http::{free_tcp_addr, try_http_request};
use super::osds::{Osds, wait_osds};
use super::{Monitors, kill_child};

/// The region the gateway is started with and the SDK signs for.
pub const REGION: &str = "us-east-1";

/// `shoal gateway` flags every test cluster uses (small, fast timers).
const GATEWAY_ARGS: &[&str] = &[
    "--pool-size",
    "3",
    "--pool-min-size",
    "2",
    "--pool-pg-num",
    "16",
    "--index-shards",
    "4",
    "--gc-delay",
    "2",
    "--janitor-after",
    "3",
    "--region",
    REGION,
];

/// An S3 user as `shoal user create` prints it.
#[derive(Clone, Debug)]
pub struct User {
    pub uid: String,
    pub display_name: String,
    pub access_key: String,
    pub secret_key: String,
}

impl User {
    /// Parses `{"uid", "display_name", "keys": [{"access_key", "secret_key"}]}`, taking the
    /// first key.
    pub fn from_json(v: &serde_json::Value) -> User {
        let key = &v["keys"][0];
        User {
            uid: v["uid"].as_str().expect("uid").to_string(),
            display_name: v["display_name"]
                .as_str()
                .expect("display_name")
                .to_string(),
            access_key: key["access_key"].as_str().expect("access_key").to_string(),
            secret_key: key["secret_key"].as_str().expect("secret_key").to_string(),
        }
    }
}

/// A cluster with an S3 gateway in front. Fields drop after [`Drop::drop`] kills the
/// gateway: OSDs first, then the monitors with the temp directory.
pub struct Cluster {
    gateway: Option<Child>,
    extra_args: Vec<String>,
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// The user `tester` ("Test User").
    pub user: User,
    pub osds: Osds,
    pub mons: Monitors,
}

impl Cluster {
    /// One monitor, three OSDs, a gateway and the user `tester`.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Like [`start`](Self::start), the gateway with the extra flags `args`.
    pub fn start_with(args: &[&str]) -> Cluster {
        let mons = Monitors::start(1);
        mons.wait_leader(&[0], Duration::from_secs(20));
        let osds = Osds::start(&mons, 3);
        wait_osds(&mons, Duration::from_secs(30), "3 OSDs up", |v| {
            v["osds"]
                .as_array()
                .is_some_and(|a| a.iter().filter(|o| o["up"] == true).count() == 3)
        });
        let mut cluster = Cluster {
            gateway: None,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            addr: free_tcp_addr(),
            user: User {
                uid: String::new(),
                display_name: String::new(),
                access_key: String::new(),
                secret_key: String::new(),
            },
            osds,
            mons,
        };
        cluster.restart_gateway();
        cluster.user = cluster.create_user("tester", "Test User");
        cluster
    }

    /// The temp directory holding configs, data and logs (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.mons.dir.0
    }

    fn gateway_log_path(&self) -> PathBuf {
        self.dir().join("gateway.log")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The SDK client of `tester`.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.client_for(&self.user)
    }

    /// The SDK client of `user`.
    pub fn client_for(&self, user: &User) -> aws_sdk_s3::Client {
        s3_client(&self.endpoint(), &user.access_key, &user.secret_key)
    }

    /// Starts the gateway (again) on the same port and waits until it answers HTTP.
    pub fn restart_gateway(&mut self) {
        assert!(self.gateway.is_none(), "the gateway is running");
        let log = self.gateway_log_path();
        self.gateway = Some(self.spawn_gateway(self.addr, &log));
        wait_gateway(self.addr, &mut self.gateway, &log, Duration::from_secs(90));
    }

    /// Another gateway on this cluster, on its own port and log; killed when dropped.
    pub fn extra_gateway(&self) -> ExtraGateway {
        let addr = free_tcp_addr();
        let log = self.dir().join(format!("gateway-{}.log", addr.port()));
        let mut child = Some(self.spawn_gateway(addr, &log));
        wait_gateway(addr, &mut child, &log, Duration::from_secs(90));
        ExtraGateway { child, addr }
    }

    /// `shoal gateway` with the test flags on `addr`, logging to `log`.
    fn spawn_gateway(&self, addr: SocketAddr, log: &Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("--exit-with-parent")
            .arg("--conf")
            .arg(&self.mons.conf)
            .args(["gateway", "--listen", &addr.to_string()])
            .args(GATEWAY_ARGS)
            .args(&self.extra_args)
            .env("RUST_LOG", "info,radosgw=debug,openraft=error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// kill -9 of the gateway.
    pub fn kill_gateway(&mut self) {
        kill_child(&mut self.gateway);
    }

    /// The gateway's log, for failure messages.
    pub fn gateway_log(&self) -> String {
        std::fs::read_to_string(self.gateway_log_path()).unwrap_or_default()
    }

    /// Runs `shoal --conf CONF ARGS` (arguments passed as given, spaces kept).
    pub fn shoal(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("--conf")
            .arg(&self.mons.conf)
            .args(args)
            .output()
            .unwrap()
    }

    /// The names of every object in the gateway's data pool (heads and tails).
    pub fn data_pool_objects(&self) -> Vec<String> {
        let out = self.shoal(&["rados", "-p", "default.rgw.buckets.data", "ls"]);
        assert!(
            out.status.success(),
            "rados ls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Runs `shoal --format json ARGS`, asserts success and parses stdout.
    #[track_caller]
    pub fn shoal_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let out = self.shoal(&all);
        assert!(
            out.status.success(),
            "shoal {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "shoal {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `shoal user create --uid UID --display-name NAME`.
    pub fn create_user(&self, uid: &str, display_name: &str) -> User {
        let v = self.shoal_json(&[
            "user",
            "create",
            "--uid",
            uid,
            "--display-name",
            display_name,
        ]);
        let user = User::from_json(&v);
        assert_eq!(user.uid, uid, "user create printed {v}");
        assert_eq!(user.display_name, display_name, "user create printed {v}");
        user
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_gateway();
        if std::thread::panicking() {
            let log = self.gateway_log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- gateway log (last 80 lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A second `shoal gateway` on the same cluster (see [`Cluster::extra_gateway`]).
pub struct ExtraGateway {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ExtraGateway {
    /// The SDK client of `user` through this gateway.
    pub fn client_for(&self, user: &User) -> aws_sdk_s3::Client {
        s3_client(
            &format!("http://{}", self.addr),
            &user.access_key,
            &user.secret_key,
        )
    }
}

impl Drop for ExtraGateway {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

/// Waits until the gateway on `addr` answers an HTTP request (any status); panics with its
/// log if it exits or `within` passes.
fn wait_gateway(addr: SocketAddr, child: &mut Option<Child>, log: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if try_http_request(addr, "GET", "/", &[], b"").is_ok() {
            return;
        }
        if let Some(status) = child.as_mut().and_then(|c| c.try_wait().unwrap()) {
            panic!("gateway exited with {status} before serving\n{}", log());
        }
        assert!(
            Instant::now() < deadline,
            "gateway not answering on {addr} within {within:?}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An SDK client for `endpoint` (path-style, region [`REGION`]) signing with the given keys,
/// over plain HTTP (rustls on ring is configured only so the crate builds without aws-lc).
pub fn s3_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let tls_context = TlsContext::builder()
        .with_trust_store(TrustStore::empty())
        .build()
        .unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context)
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .http_client(http)
        // A loaded test machine may pause a stream for seconds; the operation timeout is the
        // guard against hangs.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
