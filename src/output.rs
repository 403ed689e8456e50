//! Output formats shared by every command.

use serde::Serialize;

/// How a command prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Plain,
    /// One JSON document on stdout, for scripts (field names are documented in README).
    Json,
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `up`/`down` and `in`/`out`, as every OSD listing prints them.
pub fn osd_state(up: bool, is_in: bool) -> (&'static str, &'static str) {
    (
        if up { "up" } else { "down" },
        if is_in { "in" } else { "out" },
    )
}

/// `1.5 GiB`, `730 KiB`, `12 B`: a size rounded to one decimal in the largest binary unit
/// it reaches, for tables people read (JSON gives exact bytes).
pub fn approx_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift {
            let v = bytes as f64 / (1u64 << shift) as f64;
            return if v < 10.0 {
                format!("{v:.1} {unit}")
            } else {
                format!("{v:.0} {unit}")
            };
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::approx_size(12), "12 B");
        assert_eq!(super::approx_size(1536), "1.5 KiB");
        assert_eq!(super::approx_size(730 << 10), "730 KiB");
        assert_eq!(super::approx_size(3 << 30), "3.0 GiB");
    }
}
