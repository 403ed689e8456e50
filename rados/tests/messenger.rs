#![allow(clippy::disallowed_methods)] // real sockets, real clocks

//! The messenger over real QUIC on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rados::proto::debug::SetFaults;
use rados::{
    CallError, FaultRules, Keyring, Messenger, MessengerConfig, PeerFault, Router, Rpc, WireError,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Echo {
    text: String,
}
impl Rpc for Echo {
    const METHOD: u16 = 60_001;
    type Reply = String;
}

#[derive(Serialize, Deserialize)]
struct Unserved;
impl Rpc for Unserved {
    const METHOD: u16 = 60_002;
    type Reply = ();
}

fn quick() -> MessengerConfig {
    MessengerConfig {
        request_timeout: Duration::from_millis(700),
        ..MessengerConfig::default()
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A server answering Echo with the text and the payload reversed.
fn server(keyring: &Keyring, addr: SocketAddr) -> Arc<Messenger> {
    let m = Messenger::bind(addr, keyring, quick()).unwrap();
    let router = Router::new().route_with_payload(|req: Echo, ctx| async move {
        let mut payload = ctx.payload.to_vec();
        payload.reverse();
        (format!("echo: {}", req.text), Bytes::from(payload))
    });
    m.serve(Arc::new(router));
    m
}

async fn echo(client: &Messenger, to: SocketAddr) -> Result<String, CallError> {
    client.call(to, &Echo { text: "hi".into() }).await
}

#[tokio::test]
async fn calls_round_trip_with_payload() {
    let key = Keyring::generate().unwrap();
    let srv = server(&key, local());
    let addr = srv.listen_addr().unwrap();
    let client = Messenger::client(&key, quick()).unwrap();
    let (reply, payload) = client
        .call_with_payload(
            addr,
            &Echo {
                text: "hello".into(),
            },
            Bytes::from_static(b"abc"),
        )
        .await
        .unwrap();
    assert_eq!(reply, "echo: hello");
    assert_eq!(&payload[..], b"cba");
    // Many concurrent calls, one stream each, over the one connection.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = client.clone();
        calls.spawn(async move { echo(&client, addr).await });
    }
    while let Some(r) = calls.join_next().await {
        assert_eq!(r.unwrap().unwrap(), "echo: hi");
    }
    match client.call(addr, &Unserved).await {
        Err(CallError::Remote {
            error: WireError::UnknownMethod(60_002),
            ..
        }) => {}
        other => panic!("expected UnknownMethod, got {other:?}"),
    }
}

#[tokio::test]
async fn a_peer_without_the_cluster_key_is_refused() {
    let key = Keyring::generate().unwrap();
    let srv = server(&key, local());
    let addr = srv.listen_addr().unwrap();
    let stranger = Messenger::client(&Keyring::generate().unwrap(), quick()).unwrap();
    match echo(&stranger, addr).await {
        Err(CallError::Refused { .. }) => {}
        other => panic!("a stranger got {other:?}"),
    }
    // A stranger's server is refused by our client too.
    let strange_srv = server(&Keyring::generate().unwrap(), local());
    let client = Messenger::client(&key, quick()).unwrap();
    assert!(matches!(
        echo(&client, strange_srv.listen_addr().unwrap()).await,
        Err(CallError::Refused { .. })
    ));
    // Members still get served.
    assert_eq!(echo(&client, addr).await.unwrap(), "echo: hi");
}

#[tokio::test]
async fn a_corrupted_frame_closes_only_that_connection() {
    let key = Keyring::generate().unwrap();
    let srv = server(&key, local());
    let addr = srv.listen_addr().unwrap();
    let good = Messenger::client(&key, quick()).unwrap();
    assert_eq!(echo(&good, addr).await.unwrap(), "echo: hi");

    // A member that sends garbage on a raw stream.
    let mut endpoint = quinn::Endpoint::client(local()).unwrap();
    let tls =
        quinn::crypto::rustls::QuicClientConfig::try_from(rados::tls::client_config(&key).unwrap())
            .unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(tls)));
    let conn = endpoint
        .connect(addr, rados::tls::SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(b"\x05\x00\x00\x00\x00\x00\x00\x00garbage-not-a-frame")
        .await
        .unwrap();
    send.finish().unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert!(
        matches!(&reason, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == 1u32.into()),
        "{reason:?}"
    );
    // Everyone else is still served, on their existing connection.
    assert_eq!(echo(&good, addr).await.unwrap(), "echo: hi");
}

#[tokio::test]
async fn faults_drop_delay_and_isolate_switch_at_run_time() {
    let key = Keyring::generate().unwrap();
    let srv = server(&key, local());
    let addr = srv.listen_addr().unwrap();
    let peer = Messenger::bind(local(), &key, quick()).unwrap();
    let peer_addr = peer.listen_addr().unwrap();
    assert_eq!(echo(&peer, addr).await.unwrap(), "echo: hi");

    // Outgoing drop: the caller times out.
    peer.faults().peer(addr, Some(PeerFault::Drop));
    assert!(matches!(
        echo(&peer, addr).await,
        Err(CallError::Timeout { .. })
    ));
    peer.faults().peer(addr, None);
    assert_eq!(echo(&peer, addr).await.unwrap(), "echo: hi");

    // Incoming drop on the server, by the sender's announced address.
    srv.faults().peer(peer_addr, Some(PeerFault::Drop));
    assert!(matches!(
        echo(&peer, addr).await,
        Err(CallError::Timeout { .. })
    ));
    let bystander = Messenger::client(&key, quick()).unwrap();
    assert_eq!(echo(&bystander, addr).await.unwrap(), "echo: hi");
    srv.faults().clear();

    // Delay: answered, later.
    let delay = Duration::from_millis(200);
    peer.faults().peer(addr, Some(PeerFault::Delay(delay)));
    let start = std::time::Instant::now();
    assert_eq!(echo(&peer, addr).await.unwrap(), "echo: hi");
    assert!(start.elapsed() >= delay);
    peer.faults().clear();

    // Isolation: nobody gets through in either direction.
    srv.faults().isolate(true);
    assert!(matches!(
        echo(&bystander, addr).await,
        Err(CallError::Timeout { .. })
    ));
    srv.faults().isolate(false);
    assert_eq!(echo(&bystander, addr).await.unwrap(), "echo: hi");
}

#[tokio::test]
async fn set_faults_switches_a_running_daemon_and_heals_an_isolated_one() {
    let key = Keyring::generate().unwrap();
    let srv = server(&key, local());
    let addr = srv.listen_addr().unwrap();
    let admin = Messenger::client(&key, quick()).unwrap();
    let isolate = FaultRules {
        isolated: true,
        ..FaultRules::default()
    };
    let now = admin
        .call(
            addr,
            &SetFaults {
                rules: isolate.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(now, isolate);
    assert_eq!(srv.faults().get(), isolate);
    assert!(matches!(
        echo(&admin, addr).await,
        Err(CallError::Timeout { .. })
    ));
    // The switch itself passes the isolation, so the daemon can be healed remotely.
    let cleared = admin
        .call(
            addr,
            &SetFaults {
                rules: FaultRules::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared, FaultRules::default());
    assert_eq!(echo(&admin, addr).await.unwrap(), "echo: hi");
    // A stranger (another cluster key) cannot switch anything.
    let stranger = Messenger::client(&Keyring::generate().unwrap(), quick()).unwrap();
    assert!(
        stranger
            .call(addr, &SetFaults { rules: isolate })
            .await
            .is_err()
    );
    assert_eq!(srv.faults().get(), FaultRules::default());
}

#[tokio::test]
async fn reconnects_after_the_peer_restarts() {
    let key = Keyring::generate().unwrap();
    let srv = server(&key, local());
    let addr = srv.listen_addr().unwrap();
    let client = Messenger::client(&key, quick()).unwrap();
    assert_eq!(echo(&client, addr).await.unwrap(), "echo: hi");
    srv.close();
    drop(srv);
    assert!(echo(&client, addr).await.is_err());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _srv = server(&key, addr); // same port
    let mut ok = false;
    for _ in 0..40 {
        if echo(&client, addr).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "never reconnected");
}

#[test]
fn keyrings_survive_a_round_trip_through_a_file() {
    let dir = std::env::temp_dir().join(format!("shoal-keyring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keyring");
    let key = Keyring::generate().unwrap();
    key.save(&path).unwrap();
    let back = Keyring::load(&path).unwrap();
    assert_eq!(back.cert(), key.cert());
    assert_eq!(back.to_pem(), key.to_pem());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(&path, "not a keyring").unwrap();
    assert!(Keyring::load(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A peer that goes away mid-reply (its task dropped, which finishes the stream early)
/// has lost the call: a retryable `ConnectionLost`, not a final `BadFrame`.
#[tokio::test]
async fn a_reply_cut_short_is_a_lost_call_not_a_bad_frame() {
    let key = Keyring::generate().unwrap();
    let tls =
        quinn::crypto::rustls::QuicServerConfig::try_from(rados::tls::server_config(&key).unwrap())
            .unwrap();
    let endpoint =
        quinn::Endpoint::server(quinn::ServerConfig::with_crypto(Arc::new(tls)), local()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let replies: [&'static [u8]; 2] = [b"", b"\x20\x00\x00\x00\x00\x00\x00\x00cut"];
    let server = tokio::spawn(async move {
        let conn = endpoint.accept().await.unwrap().await.unwrap();
        for reply in replies {
            let (mut send, mut recv) = conn.accept_bi().await.unwrap();
            recv.read_to_end(1 << 20).await.unwrap();
            send.write_all(reply).await.unwrap();
            send.finish().unwrap();
        }
        conn.closed().await;
    });
    let client = Messenger::client(&key, quick()).unwrap();
    for _ in 0..2 {
        let err = echo(&client, addr).await.unwrap_err();
        assert!(
            matches!(err, CallError::ConnectionLost { .. }),
            "a cut-short reply is retryable: {err:?}"
        );
    }
    client.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
}
