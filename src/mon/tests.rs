use super::*;

#[test]
fn policy_flags_override_the_config_file_over_the_defaults() {
    let none = PolicyArgs::default();
    let p = policy(&none, &MonSettings::default()).unwrap();
    assert_eq!(p.beacon_grace, Duration::from_secs(20));
    assert_eq!(p.down_out_interval, Duration::from_secs(600));
    assert_eq!(p.min_reporters, 2);

    let file: ClusterConfig = toml::from_str(
        "fsid = \"x\"\nkeyring = \"k\"\nmons = []\n[mon]\nbeacon_grace = 5\nmin_reporters = 3\n",
    )
    .unwrap();
    let p = policy(&none, &file.mon).unwrap();
    assert_eq!(
        (p.beacon_grace, p.min_reporters),
        (Duration::from_secs(5), 3)
    );

    let flags = PolicyArgs {
        beacon_grace: Some(2),
        down_out_interval: Some(30),
        min_reporters: None,
    };
    let p = policy(&flags, &file.mon).unwrap();
    assert_eq!(p.beacon_grace, Duration::from_secs(2));
    assert_eq!(p.down_out_interval, Duration::from_secs(30));
    assert_eq!(p.min_reporters, 3, "from the file");

    let zero = PolicyArgs {
        min_reporters: Some(0),
        ..PolicyArgs::default()
    };
    assert!(policy(&zero, &file.mon).is_err());
    let typo: Result<ClusterConfig, _> =
        toml::from_str("fsid = \"x\"\nkeyring = \"k\"\nmons = []\n[mon]\nbeacon_grase = 5\n");
    assert!(typo.is_err(), "unknown [mon] keys are errors");
}
