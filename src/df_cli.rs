//! `shoal df` (space per pool) and `shoal osd df` (space per OSD), like `ceph df` and
//! `ceph osd df`, from the usage the OSDs report in their beacons.

use rados::proto::mon::DfReport;

use crate::output::{Format, approx_size, osd_state, print_json};

/// `shoal df`: per pool, objects, user data and raw bytes on the OSDs.
pub fn pools(report: &DfReport, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(&serde_json::json!({ "pools": report.pools }));
    }
    println!(
        "{:<24} {:>5} {:>10} {:>10} {:>10}",
        "POOL", "ID", "OBJECTS", "STORED", "RAW"
    );
    for p in &report.pools {
        println!(
            "{:<24} {:>5} {:>10} {:>10} {:>10}",
            p.name,
            p.id.0,
            p.objects,
            approx_size(p.stored_bytes),
            approx_size(p.raw_bytes)
        );
    }
    Ok(())
}

/// `shoal osd df`: per OSD, data held (roll-back copies included), file size, objects, PGs.
pub fn osds(report: &DfReport, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(&serde_json::json!({ "osds": report.osds }));
    }
    println!(
        "{:<8} {:<9} {:>10} {:>10} {:>9} {:>5} {:>9}",
        "OSD", "STATE", "USED", "FILE", "OBJECTS", "PGS", "REPORTED"
    );
    for o in &report.osds {
        let (up, is_in) = osd_state(o.up, o.is_in);
        let state = format!("{up}/{is_in}");
        let reported = o
            .reported_secs_ago
            .map_or_else(|| "never".to_owned(), |s| format!("{s}s ago"));
        println!(
            "{:<8} {:<9} {:>10} {:>10} {:>9} {:>5} {:>9}",
            o.id.to_string(),
            state,
            approx_size(o.used_bytes),
            approx_size(o.file_bytes),
            o.objects,
            o.pgs,
            reported
        );
    }
    Ok(())
}
