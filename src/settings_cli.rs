//! `shoal config ls|get|set|rm`: cluster-wide settings held in the map
//! (`placement::config`), so every OSD applies a change within an epoch.

use anyhow::{Context, bail};
use placement::config::{SETTINGS, Setting, setting};
use rados::proto::mon::AdminCommand;
use serde_json::json;

use crate::admin::{self, Connection};
use crate::output::{Format, print_json};

/// Subcommands under `shoal config`.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Every setting with its value and default.
    Ls,
    /// One setting's value.
    Get {
        /// The setting, e.g. `osd_max_backfills`.
        key: String,
    },
    /// Set a setting, e.g. `shoal config set osd_recovery_max_bytes_per_sec 50MiB`.
    Set {
        /// The setting.
        key: String,
        /// Its value: an integer, optionally with a KiB/MiB/GiB (or K/M/G) suffix.
        value: String,
    },
    /// Return a setting to its default.
    Rm {
        /// The setting.
        key: String,
    },
}

/// `shoal config ...`.
pub fn run(conn: &Connection, cmd: &ConfigCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Ls => {
            let map = admin::status(conn)?.map;
            if format == Format::Json {
                return print_json(
                    &SETTINGS
                        .iter()
                        .map(|s| {
                            json!({"key": s.key, "value": map.setting(s), "default": s.default, "help": s.help})
                        })
                        .collect::<Vec<_>>(),
                );
            }
            println!("{:<34} {:>14} {:>14}  HELP", "KEY", "VALUE", "DEFAULT");
            for s in SETTINGS {
                println!(
                    "{:<34} {:>14} {:>14}  {}",
                    s.key,
                    map.setting(s),
                    s.default,
                    s.help
                );
            }
            Ok(())
        }
        ConfigCommand::Get { key } => {
            let s = known(key)?;
            let value = admin::status(conn)?.map.setting(s);
            if format == Format::Json {
                return print_json(&json!({"key": s.key, "value": value}));
            }
            println!("{value}");
            Ok(())
        }
        ConfigCommand::Set { key, value } => {
            let s = known(key)?;
            let value = parse_value(value)?;
            let epoch = admin::admin(
                conn,
                AdminCommand::ConfigSet {
                    key: s.key.into(),
                    value: Some(value),
                },
            )?;
            admin::changed(format!("{} = {value}", s.key), epoch, format)
        }
        ConfigCommand::Rm { key } => {
            let s = known(key)?;
            let epoch = admin::admin(
                conn,
                AdminCommand::ConfigSet {
                    key: s.key.into(),
                    value: None,
                },
            )?;
            admin::changed(format!("{} reset to {}", s.key, s.default), epoch, format)
        }
    }
}

fn known(key: &str) -> anyhow::Result<&'static Setting> {
    setting(key).with_context(|| {
        let all: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        format!("unknown setting {key:?}; known: {}", all.join(", "))
    })
}

/// An integer with an optional binary size suffix.
fn parse_value(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .with_context(|| format!("{text:?} is not a number"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        other => bail!("unknown unit {other:?} in {text:?} (use KiB, MiB or GiB)"),
    };
    n.checked_mul(1 << shift)
        .with_context(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_value;

    #[test]
    fn values_take_binary_suffixes() {
        assert_eq!(parse_value("12").unwrap(), 12);
        assert_eq!(parse_value("50MiB").unwrap(), 50 << 20);
        assert_eq!(parse_value("2 g").unwrap(), 2 << 30);
        assert!(parse_value("fast").is_err());
        assert!(parse_value("5 parsecs").is_err());
    }
}
