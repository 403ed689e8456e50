//! `--exit-with-parent`: a daemon started by a foreground `shoal up` or a test harness exits
//! once the process that started it is gone, even if that one was killed with kill -9 (which
//! runs no cleanup), so no daemon is left running on a directory nobody will remove.

use std::time::Duration;

/// How often the parent is checked: a daemon outlives a killed parent by at most this.
const EVERY: Duration = Duration::from_millis(500);

/// Watches the parent from a thread of its own and exits the process when it is gone (the
/// process is then re-parented, so its parent id changes).
pub fn exit_with_parent() -> std::io::Result<()> {
    let parent = std::os::unix::process::parent_id();
    std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EVERY);
                if std::os::unix::process::parent_id() != parent {
                    tracing::warn!(
                        parent,
                        "the process that started this daemon exited; exiting"
                    );
                    std::process::exit(1);
                }
            }
        })
        .map(|_| ())
}
