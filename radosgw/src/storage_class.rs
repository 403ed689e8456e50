//! Storage classes (pure): which pool a class's data goes to, as RGW's placement targets.
//! STANDARD is the data pool; STANDARD_IA an erasure-coded pool the gateway creates on
//! first use; an operator adds more (`shoal storage-class add NAME --pool P`), or points
//! STANDARD_IA at a pool of their own. The registry of added classes is omap in the
//! metadata pool ([`crate::layout::CLASSES_OID`]); [`crate::classes`] reads and caches it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The data pool's class.
pub const STANDARD: &str = "STANDARD";
/// The infrequent-access class: erasure-coded, created on first use.
pub const STANDARD_IA: &str = "STANDARD_IA";
/// Where STANDARD_IA's data goes unless an operator pointed it elsewhere.
pub const IA_POOL: &str = "default.rgw.buckets.data.ia";

/// AWS classes this gateway never offers (archives need a restore step it does not have).
const ARCHIVES: [&str; 3] = ["GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"];
/// Access-based tiering ([`crate::tiering`]): the data pool while read, STANDARD_IA's pool
/// while idle.
pub const INTELLIGENT_TIERING: &str = "INTELLIGENT_TIERING";

/// A class an operator added: where its data goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassRecord {
    /// The pool holding its data.
    pub pool: String,
    /// When it was added (ms since the epoch).
    pub created_ms: i64,
}

/// Where writes of a class go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The class as objects record it (`None`: STANDARD).
    pub class: Option<String>,
    /// The pool of its data (`None`: the data pool, head holding the first stripe).
    pub pool: Option<String>,
    /// The gateway creates the pool if it does not exist (the built-in STANDARD_IA).
    pub create: bool,
}

impl Target {
    /// STANDARD: the data pool.
    pub fn standard() -> Target {
        Target {
            class: None,
            pool: None,
            create: false,
        }
    }

    /// The class's name as S3 shows it.
    pub fn name(&self) -> &str {
        self.class.as_deref().unwrap_or(STANDARD)
    }
}

/// Why a class cannot be used or added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClassError {
    /// Not a class this cluster offers (S3's InvalidStorageClass).
    #[error("storage class {0:?} is not offered here ({1})")]
    Unknown(String, &'static str),
    /// A name `add` refuses.
    #[error("{0:?} cannot be added as a storage class: {1}")]
    BadName(String, &'static str),
}

/// The class named `name` given the operator's `added` classes.
pub fn resolve(name: &str, added: &BTreeMap<String, ClassRecord>) -> Result<Target, ClassError> {
    if name == STANDARD {
        return Ok(Target::standard());
    }
    if let Some(record) = added.get(name) {
        return Ok(Target {
            class: Some(name.to_owned()),
            pool: Some(record.pool.clone()),
            create: false,
        });
    }
    if name == STANDARD_IA {
        return Ok(Target {
            class: Some(name.to_owned()),
            pool: Some(IA_POOL.to_owned()),
            create: true,
        });
    }
    if name == INTELLIGENT_TIERING {
        // Written hot; the tiering pass moves it to the cold pool when idle.
        return Ok(Target {
            class: Some(name.to_owned()),
            pool: None,
            create: false,
        });
    }
    let why = if ARCHIVES.contains(&name) {
        "archive classes are not offered"
    } else {
        "an operator adds classes with `shoal storage-class add`"
    };
    Err(ClassError::Unknown(name.to_owned(), why))
}

/// Checks a name for `shoal storage-class add`: S3's style (capitals, digits, `_`), not
/// STANDARD (the data pool's) nor an archive class.
pub fn check_new_name(name: &str) -> Result<(), ClassError> {
    let bad = |why| Err(ClassError::BadName(name.to_owned(), why));
    if name.is_empty() || name.len() > 64 {
        return bad("a name is 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return bad("a name holds only capital letters, digits and '_'");
    }
    if name == STANDARD {
        return bad("STANDARD is the data pool");
    }
    if ARCHIVES.contains(&name) {
        return bad("archive classes are not offered");
    }
    if name == INTELLIGENT_TIERING {
        return bad("INTELLIGENT_TIERING is the gateway's own (the data pool, then STANDARD_IA's)");
    }
    Ok(())
}

/// The erasure code for the built-in STANDARD_IA pool on a cluster with `domains` failure
/// domains: 4+2 from 6 on, 2+1 from 3 on; `None` below that (it could not hold 2+1).
pub fn ia_profile(domains: usize) -> Option<(u8, u8)> {
    match domains {
        6.. => Some((4, 2)),
        3.. => Some((2, 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(name: &str, pool: &str) -> BTreeMap<String, ClassRecord> {
        [(
            name.to_owned(),
            ClassRecord {
                pool: pool.into(),
                created_ms: 0,
            },
        )]
        .into()
    }

    #[test]
    fn standard_is_the_data_pool_and_ia_is_built_in() {
        let none = BTreeMap::new();
        assert_eq!(resolve(STANDARD, &none), Ok(Target::standard()));
        let ia = resolve(STANDARD_IA, &none).unwrap();
        assert_eq!(ia.pool.as_deref(), Some(IA_POOL));
        assert!(ia.create);
        assert_eq!(ia.name(), STANDARD_IA);
    }

    #[test]
    fn operators_add_classes_and_may_move_ia() {
        let mine = added("COLD", "cold-pool");
        let cold = resolve("COLD", &mine).unwrap();
        assert_eq!(cold.pool.as_deref(), Some("cold-pool"));
        assert!(!cold.create);
        let moved = resolve(STANDARD_IA, &added(STANDARD_IA, "my-ec")).unwrap();
        assert_eq!(moved.pool.as_deref(), Some("my-ec"));
        assert!(!moved.create, "an operator's pool is never created");
        // STANDARD cannot be shadowed by a stored record.
        assert_eq!(
            resolve(STANDARD, &added(STANDARD, "x")),
            Ok(Target::standard())
        );
    }

    #[test]
    fn archives_and_unknown_classes_are_refused() {
        let none = BTreeMap::new();
        for name in ["GLACIER", "DEEP_ARCHIVE", "ONEZONE_IA", "cold", ""] {
            assert!(
                matches!(resolve(name, &none), Err(ClassError::Unknown(..))),
                "{name}"
            );
        }
        let tiering = resolve(INTELLIGENT_TIERING, &none).unwrap();
        assert_eq!(tiering.pool, None, "written to the hot pool");
        assert_eq!(tiering.name(), INTELLIGENT_TIERING);
    }

    #[test]
    fn new_names_follow_s3_style() {
        assert!(check_new_name("ONEZONE_IA").is_ok());
        assert!(check_new_name(STANDARD_IA).is_ok());
        let long = "X".repeat(65);
        for bad in [
            "",
            "cold",
            "A-B",
            STANDARD,
            "GLACIER",
            INTELLIGENT_TIERING,
            &long,
        ] {
            assert!(check_new_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ia_profile_fits_the_cluster() {
        assert_eq!(ia_profile(2), None);
        assert_eq!(ia_profile(3), Some((2, 1)));
        assert_eq!(ia_profile(5), Some((2, 1)));
        assert_eq!(ia_profile(6), Some((4, 2)));
        assert_eq!(ia_profile(40), Some((4, 2)));
    }
}
