//! A second and third client family: the aws CLI (botocore) and rclone copy a directory tree
//! (small files, a name with a space, and a 12 MiB file that both send as a multipart upload)
//! up to the gateway and back, and the copies must match byte for byte.
//!
//! botocore itself (the aws CLI's library, from Python) checks that an empty PUT does not
//! poison its connection for the next one (boto/botocore#3755).
//!
//! CI installs both tools (`.ci/run`) and sets `SHOAL_REQUIRE_CLIENTS=1`, which turns a
//! missing tool into a failure; on a machine without them the test says so and passes.
#![allow(clippy::disallowed_methods)] // the harness waits on processes with std Instant

mod common;

use std::path::Path;
use std::process::Command;

use common::TempDir;
use common::gateway::Cluster;
use common::s3::random_bytes;

fn available(tool: &str) -> bool {
    let mut probe = Command::new(tool);
    probe.arg("--version");
    present(tool, probe)
}

/// Whether `probe` runs and succeeds; when it does not, a failure if SHOAL_REQUIRE_CLIENTS
/// is set, else a skip said on stderr.
fn present(what: &str, mut probe: Command) -> bool {
    let found = probe.output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("SHOAL_REQUIRE_CLIENTS").is_none(),
            "{what} is required (SHOAL_REQUIRE_CLIENTS is set) but not installed"
        );
        eprintln!("skipping {what}: not installed");
    }
    found
}

/// A command with the cluster's credentials and none of the machine's CA bundle settings
/// (rclone refuses a custom bundle on plain http).
fn client(cluster: &Cluster, tool: &str) -> Command {
    let mut cmd = Command::new(tool);
    for var in [
        "AWS_CA_BUNDLE",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ENDPOINT_URL", cluster.endpoint())
        .env("AWS_ACCESS_KEY_ID", &cluster.user.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &cluster.user.secret_key)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("RCLONE_CONFIG_S_TYPE", "s3")
        .env("RCLONE_CONFIG_S_PROVIDER", "Other")
        .env("RCLONE_CONFIG_S_ENDPOINT", cluster.endpoint())
        .env("RCLONE_CONFIG_S_ACCESS_KEY_ID", &cluster.user.access_key)
        .env(
            "RCLONE_CONFIG_S_SECRET_ACCESS_KEY",
            &cluster.user.secret_key,
        )
        .env("RCLONE_CONFIG_S_REGION", "us-east-1")
        .env("RCLONE_CONFIG", "/dev/null");
    cmd
}

fn run(mut cmd: Command, what: &str) {
    let started = std::time::Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    println!("{what}: {:.1}s", started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the tree the clients copy.
fn make_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("a/b/one.txt".to_owned(), b"one\n".to_vec()),
        ("a/b/empty".to_owned(), Vec::new()),
        ("a/two.bin".to_owned(), random_bytes(70_000, 2)),
        ("c/space name.txt".to_owned(), b"hello there\n".to_vec()),
        ("c/big.bin".to_owned(), random_bytes(12 << 20, 3)),
    ];
    for (name, data) in &files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    files
}

fn check_tree(root: &Path, files: &[(String, Vec<u8>)], what: &str) {
    for (name, data) in files {
        let got = std::fs::read(root.join(name))
            .unwrap_or_else(|e| panic!("{what}: {name} missing after the round trip: {e}"));
        assert!(got == *data, "{what}: {name} differs after the round trip");
    }
}

#[test]
fn aws_cli_and_rclone_copy_a_tree_up_and_back() {
    let aws = available("aws");
    let rclone = available("rclone");
    if !aws && !rclone {
        return;
    }
    let started = std::time::Instant::now();
    let cluster = Cluster::start();
    println!("cluster up: {:.1}s", started.elapsed().as_secs_f64());
    let work = TempDir::new("s3-clients");
    let src = work.0.join("src");
    let files = make_tree(&src);

    if aws {
        let mut mb = client(&cluster, "aws");
        mb.args(["s3", "mb", "s3://cli-bucket"]);
        run(mb, "aws s3 mb");
        let mut up = client(&cluster, "aws");
        up.args(["s3", "sync"])
            .arg(&src)
            .arg("s3://cli-bucket/tree");
        run(up, "aws s3 sync up");
        let back = work.0.join("aws-back");
        let mut down = client(&cluster, "aws");
        down.args(["s3", "sync", "s3://cli-bucket/tree"]).arg(&back);
        run(down, "aws s3 sync down");
        check_tree(&back, &files, "aws CLI");
        let mut ls = client(&cluster, "aws");
        ls.args(["s3", "rm", "--recursive", "s3://cli-bucket/tree"]);
        run(ls, "aws s3 rm --recursive");
        let mut rb = client(&cluster, "aws");
        rb.args(["s3", "rb", "s3://cli-bucket"]);
        run(rb, "aws s3 rb (bucket empty after rm)");
    }

    if rclone {
        let mut mk = client(&cluster, "rclone");
        mk.args(["mkdir", "s:rclone-bucket"]);
        run(mk, "rclone mkdir");
        let mut up = client(&cluster, "rclone");
        up.arg("copy").arg(&src).arg("s:rclone-bucket/tree");
        run(up, "rclone copy up");
        let mut check = client(&cluster, "rclone");
        check.arg("check").arg(&src).arg("s:rclone-bucket/tree");
        run(check, "rclone check (sizes and MD5s)");
        let back = work.0.join("rclone-back");
        let mut down = client(&cluster, "rclone");
        down.args(["copy", "s:rclone-bucket/tree"]).arg(&back);
        run(down, "rclone copy down");
        check_tree(&back, &files, "rclone");
    }
}

/// botocore sends `Expect: 100-continue` with every PUT, also an empty one, which is answered
/// at once without a `100 Continue`; botocore then misparses the next response on that
/// connection and waits for its read timeout (boto/botocore#3755). The gateway closes such a
/// connection, so here, with retries off, every PUT after an empty one must succeed on its
/// first attempt (a stall would end in a read timeout and fail the script).
#[test]
fn botocore_put_after_an_empty_put_succeeds_first_time() {
    let mut probe = Command::new("python3");
    probe.args(["-c", "import botocore"]);
    if !present("python3 with botocore", probe) {
        return;
    }
    let cluster = Cluster::start();
    let script = r#"
import io, sys, botocore.session
from botocore.config import Config
c = botocore.session.get_session().create_client(
    's3', endpoint_url=sys.argv[1], region_name='us-east-1',
    aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
    config=Config(read_timeout=30, retries={'total_max_attempts': 1}))
c.create_bucket(Bucket='expect')
big = b'x' * ((1 << 20) + 1)
for i in range(5):
    c.put_object(Bucket='expect', Key='empty-%d' % i, Body=io.BytesIO(b''))
    c.put_object(Bucket='expect', Key='big-%d' % i, Body=io.BytesIO(big))
    got = c.get_object(Bucket='expect', Key='big-%d' % i)['Body'].read()
    assert got == big, 'big-%d read back wrong' % i
print('ok')
"#;
    let mut cmd = client(&cluster, "python3");
    cmd.args(["-c", script])
        .arg(cluster.endpoint())
        .arg(&cluster.user.access_key)
        .arg(&cluster.user.secret_key);
    run(cmd, "botocore: empty PUT, then a 1 MiB PUT, five times");
}

/// Runs `cmd` like [`run`] and returns its stdout parsed as JSON.
fn run_json(mut cmd: Command, what: &str) -> serde_json::Value {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// README's recipe "restore an overwritten or deleted object", with the aws CLI as written
/// there: enable versioning, overwrite and delete, list the versions, read an old one back,
/// copy it back as the newest, and undo a delete by deleting its marker.
#[test]
fn aws_cli_restores_overwritten_and_deleted_objects() {
    if !available("aws") {
        return;
    }
    let cluster = Cluster::start();
    let work = TempDir::new("s3-versions");
    let aws = |args: &[&str]| {
        let mut cmd = client(&cluster, "aws");
        cmd.args(args);
        cmd
    };
    run(aws(&["s3", "mb", "s3://photos"]), "mb");
    run(
        aws(&[
            "s3api",
            "put-bucket-versioning",
            "--bucket",
            "photos",
            "--versioning-configuration",
            "Status=Enabled",
        ]),
        "put-bucket-versioning",
    );
    let (first, second) = (work.0.join("first.jpg"), work.0.join("second.jpg"));
    std::fs::write(&first, random_bytes(300_000, 1)).unwrap();
    std::fs::write(&second, random_bytes(200_000, 2)).unwrap();
    for file in [&first, &second] {
        let mut cp = aws(&["s3", "cp"]);
        cp.arg(file).arg("s3://photos/cat.jpg");
        run(cp, "s3 cp");
    }
    run(aws(&["s3", "rm", "s3://photos/cat.jpg"]), "s3 rm");

    let listed = run_json(
        aws(&[
            "s3api",
            "list-object-versions",
            "--bucket",
            "photos",
            "--prefix",
            "cat.jpg",
        ]),
        "list-object-versions",
    );
    let versions = listed["Versions"].as_array().expect("Versions");
    let markers = listed["DeleteMarkers"].as_array().expect("DeleteMarkers");
    assert_eq!((versions.len(), markers.len()), (2, 1), "{listed}");
    assert_eq!(markers[0]["IsLatest"], true);
    let oldest = versions
        .iter()
        .find(|v| v["Size"] == 300_000)
        .expect("the first upload")["VersionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let marker = markers[0]["VersionId"].as_str().unwrap().to_owned();

    let restored = work.0.join("cat-restored.jpg");
    let mut get = aws(&[
        "s3api",
        "get-object",
        "--bucket",
        "photos",
        "--key",
        "cat.jpg",
        "--version-id",
        &oldest,
    ]);
    get.arg(&restored);
    run(get, "get-object --version-id");
    assert!(std::fs::read(&restored).unwrap() == std::fs::read(&first).unwrap());

    // Undo the delete: the second upload is current again.
    run(
        aws(&[
            "s3api",
            "delete-object",
            "--bucket",
            "photos",
            "--key",
            "cat.jpg",
            "--version-id",
            &marker,
        ]),
        "delete-object --version-id MARKER",
    );
    let back = work.0.join("back.jpg");
    let mut cp = aws(&["s3", "cp", "s3://photos/cat.jpg"]);
    cp.arg(&back);
    run(cp, "s3 cp after undoing the delete");
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&second).unwrap());

    // Copy the first upload back as the newest version.
    let source = format!("photos/cat.jpg?versionId={oldest}");
    run(
        aws(&[
            "s3api",
            "copy-object",
            "--bucket",
            "photos",
            "--key",
            "cat.jpg",
            "--copy-source",
            &source,
        ]),
        "copy-object from a version",
    );
    let mut cp = aws(&["s3", "cp", "s3://photos/cat.jpg"]);
    cp.arg(&back);
    run(cp, "s3 cp after the copy");
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&first).unwrap());
}

/// README's recipe "keep versions from deletion", with the aws CLI as written there: a
/// bucket created with object lock, a default retention, a legal hold; deleting the version
/// is refused while held, then passes with the governance bypass.
#[test]
fn aws_cli_locks_versions_as_the_readme_says() {
    if !available("aws") {
        return;
    }
    let cluster = Cluster::start();
    let work = TempDir::new("s3-lock");
    let aws = |args: &[&str]| {
        let mut cmd = client(&cluster, "aws");
        cmd.args(args);
        cmd
    };
    run(
        aws(&[
            "s3api",
            "create-bucket",
            "--bucket",
            "records",
            "--object-lock-enabled-for-bucket",
        ]),
        "create-bucket --object-lock-enabled-for-bucket",
    );
    run(
        aws(&[
            "s3api",
            "put-object-lock-configuration",
            "--bucket",
            "records",
            "--object-lock-configuration",
            r#"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":30}}}"#,
        ]),
        "put-object-lock-configuration",
    );
    let ledger = work.0.join("ledger.csv");
    std::fs::write(&ledger, b"date,amount\n2026-12-07,100\n").unwrap();
    let mut put = aws(&[
        "s3api",
        "put-object",
        "--bucket",
        "records",
        "--key",
        "ledger.csv",
        "--body",
    ]);
    put.arg(&ledger);
    let version = run_json(put, "put-object")["VersionId"]
        .as_str()
        .expect("a version id")
        .to_owned();
    let retention = run_json(
        aws(&[
            "s3api",
            "get-object-retention",
            "--bucket",
            "records",
            "--key",
            "ledger.csv",
        ]),
        "get-object-retention",
    );
    assert_eq!(retention["Retention"]["Mode"], "GOVERNANCE", "{retention}");
    // Lengthening a governance retention needs no bypass.
    run(
        aws(&[
            "s3api",
            "put-object-retention",
            "--bucket",
            "records",
            "--key",
            "ledger.csv",
            "--retention",
            "Mode=GOVERNANCE,RetainUntilDate=2030-01-01T00:00:00Z",
        ]),
        "put-object-retention",
    );
    let retention = run_json(
        aws(&[
            "s3api",
            "get-object-retention",
            "--bucket",
            "records",
            "--key",
            "ledger.csv",
        ]),
        "get-object-retention",
    );
    let until = retention["Retention"]["RetainUntilDate"]
        .as_str()
        .unwrap_or_default();
    assert!(until.starts_with("2030-01-01T00:00:00"), "{retention}");
    let legal_hold = |status: &str| {
        aws(&[
            "s3api",
            "put-object-legal-hold",
            "--bucket",
            "records",
            "--key",
            "ledger.csv",
            "--legal-hold",
            &format!("Status={status}"),
        ])
    };
    run(legal_hold("ON"), "put-object-legal-hold ON");
    let delete = |bypass: bool| {
        let mut cmd = aws(&[
            "s3api",
            "delete-object",
            "--bucket",
            "records",
            "--key",
            "ledger.csv",
            "--version-id",
            &version,
        ]);
        if bypass {
            cmd.arg("--bypass-governance-retention");
        }
        cmd
    };
    for bypass in [false, true] {
        let out = delete(bypass).output().expect("run aws");
        assert!(!out.status.success(), "deleted under legal hold");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("AccessDenied"), "{stderr}");
    }
    run(legal_hold("OFF"), "put-object-legal-hold OFF");
    let out = delete(false).output().expect("run aws");
    assert!(!out.status.success(), "deleted under governance retention");
    run(delete(true), "delete-object --bypass-governance-retention");
    let listed = run_json(
        aws(&["s3api", "list-object-versions", "--bucket", "records"]),
        "list-object-versions",
    );
    assert!(listed.get("Versions").is_none(), "{listed}");
}

/// README's lifecycle recipe, with the aws CLI as written there: the rules go in and read
/// back.
#[test]
fn aws_cli_sets_lifecycle_as_the_readme_says() {
    if !available("aws") {
        return;
    }
    let cluster = Cluster::start();
    let aws = |args: &[&str]| {
        let mut cmd = client(&cluster, "aws");
        cmd.args(args);
        cmd
    };
    run(aws(&["s3", "mb", "s3://photos"]), "mb");
    let rules = r#"{"Rules": [
      {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
       "Expiration": {"Days": 7}},
      {"ID": "soft-delete", "Status": "Enabled", "Filter": {},
       "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
       "Expiration": {"ExpiredObjectDeleteMarker": true},
       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]}"#;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(readme.contains(rules), "README's rules are these");
    run(
        aws(&[
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            "photos",
            "--lifecycle-configuration",
            rules,
        ]),
        "put-bucket-lifecycle-configuration",
    );
    let got = run_json(
        aws(&[
            "s3api",
            "get-bucket-lifecycle-configuration",
            "--bucket",
            "photos",
        ]),
        "get-bucket-lifecycle-configuration",
    );
    let got = got["Rules"].as_array().expect("Rules");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["Expiration"]["Days"], 7);
    assert_eq!(got[1]["NoncurrentVersionExpiration"]["NoncurrentDays"], 1);
    assert_eq!(got[1]["Expiration"]["ExpiredObjectDeleteMarker"], true);

    // The storage class recipe: a copy into STANDARD_IA and a transition rule.
    let cold = r#"{"Rules": [{"ID": "cold", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
       "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]}]}"#;
    assert!(readme.contains(cold), "README's transition rule is this");
    let file = cluster.dir().join("backup.tar");
    std::fs::write(&file, b"a backup").unwrap();
    run(
        aws(&[
            "s3",
            "cp",
            file.to_str().unwrap(),
            "s3://photos/backup.tar",
            "--storage-class",
            "STANDARD_IA",
        ]),
        "cp --storage-class STANDARD_IA",
    );
    let head = run_json(
        aws(&[
            "s3api",
            "head-object",
            "--bucket",
            "photos",
            "--key",
            "backup.tar",
        ]),
        "head-object",
    );
    assert_eq!(head["StorageClass"], "STANDARD_IA", "{head}");
    run(
        aws(&[
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            "photos",
            "--lifecycle-configuration",
            cold,
        ]),
        "put-bucket-lifecycle-configuration (transition)",
    );
    let got = run_json(
        aws(&[
            "s3api",
            "get-bucket-lifecycle-configuration",
            "--bucket",
            "photos",
        ]),
        "get-bucket-lifecycle-configuration",
    );
    assert_eq!(
        got["Rules"][0]["Transitions"][0]["StorageClass"], "STANDARD_IA",
        "{got}"
    );
}
