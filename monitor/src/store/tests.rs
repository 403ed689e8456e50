use std::sync::atomic::{AtomicU64, Ordering};

use openraft::testing::{StoreBuilder, Suite};

use super::*;

struct Builder;

static NEXT: AtomicU64 = AtomicU64::new(0);

impl StoreBuilder<TypeConfig, LogStore, StateMachine, ()> for Builder {
    async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError<NodeId>> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("shoal-mon-suite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| StorageIOError::write(&e))?;
        let db = open_db(&dir.join(format!("{n}.redb"))).map_err(|e| StorageIOError::write(&e))?;
        let sm = StateMachine::open(db.clone(), placement::Fsid([3; 16]))
            .map_err(StorageIOError::write)?;
        Ok(((), LogStore::new(db), sm))
    }
}

/// openraft's own conformance suite for storage implementations.
#[test]
fn passes_openraft_storage_suite() {
    let result = Suite::test_all(Builder);
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("shoal-mon-suite-{}", std::process::id())),
    );
    result.expect("openraft storage suite");
}
