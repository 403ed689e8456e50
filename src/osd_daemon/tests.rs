use clap::Parser;

use super::*;

/// `shoal osd` flags as clap parses them.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: DaemonArgs,
}

fn args(flags: &[&str]) -> DaemonArgs {
    Cli::parse_from(std::iter::once("osd").chain(flags.iter().copied())).args
}

#[test]
fn scrub_flags_override_the_config_file_over_the_defaults() {
    let c = scrub_config(&args(&[]), &OsdSettings::default());
    assert_eq!(c.interval, Duration::from_secs(24 * 3600));
    assert_eq!(c.deep_interval, Duration::from_secs(7 * 24 * 3600));
    assert!(!c.auto_repair);

    let file: ClusterConfig = toml::from_str(
        "fsid = \"x\"\nkeyring = \"k\"\nmons = []\n[osd]\nscrub_interval = 60\nauto_repair = true\n",
    )
    .unwrap();
    let c = scrub_config(&args(&[]), &file.osd);
    assert_eq!(
        (c.interval, c.deep_interval, c.auto_repair),
        (
            Duration::from_secs(60),
            Duration::from_secs(7 * 24 * 3600),
            true
        )
    );
    let c = scrub_config(
        &args(&["--scrub-interval", "5", "--deep-scrub-interval", "50"]),
        &file.osd,
    );
    assert_eq!(
        (c.interval, c.deep_interval),
        (Duration::from_secs(5), Duration::from_secs(50))
    );
    assert!(
        toml::from_str::<ClusterConfig>(
            "fsid = \"x\"\nkeyring = \"k\"\nmons = []\n[osd]\nscrub = 1\n"
        )
        .is_err(),
        "unknown keys are refused"
    );
}
