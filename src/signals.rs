//! The signals that stop a run (SPEC §6): Ctrl-C (SIGINT), SIGTERM (what
//! Kubernetes and systemd send before killing) and SIGHUP (a closed
//! terminal) ask the run to stop after the request in flight; a second one
//! ends the process at once. SIGXFSZ is caught and dropped, so that a
//! file-size limit makes the write fail (EFBIG) instead of killing the
//! process without a word.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::flag;
use signal_hook::iterator::Signals;

use crate::error::signal_exit_code;

const STOPPING: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// The handlers, once installed: the flag the run watches, and which
/// signal set it.
pub struct Stop {
    pub interrupt: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Stop {
    /// The signal that asked the run to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            signal => i32::try_from(signal).ok(),
        }
    }
}

/// The flag the handlers set, for what runs before the run is given it:
/// listing an object store's prefix while settings are resolved.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Whether a stopping signal has come (only once [`install`]ed).
pub fn stopping() -> bool {
    STOP.get().is_some_and(|flag| flag.load(Ordering::Relaxed))
}

/// Installs the handlers. The flag is set inside the handler itself, so
/// that a request the run was about to start after the signal never starts;
/// the notice is written by a thread of its own, where writing is safe.
pub fn install() -> io::Result<Stop> {
    let interrupt = Arc::new(AtomicBool::new(false));
    STOP.set(Arc::clone(&interrupt)).ok();
    let signal = Arc::new(AtomicUsize::new(0));
    for stopping in STOPPING {
        // Registered first, so it runs first: a signal that finds the flag
        // already set is the second one, and ends the process at once.
        flag::register_conditional_shutdown(
            stopping,
            i32::from(signal_exit_code(stopping)),
            Arc::clone(&interrupt),
        )?;
        flag::register_usize(stopping, Arc::clone(&signal), stopping as usize)?;
        flag::register(stopping, Arc::clone(&interrupt))?;
    }
    // Catching SIGXFSZ is what turns the kill into a write error; there is
    // nothing else to do with it.
    let mut notices = Signals::new(STOPPING.iter().chain(&[SIGXFSZ]))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut told = false;
            for caught in notices.forever() {
                if caught != SIGXFSZ && !std::mem::replace(&mut told, true) {
                    let (name, again) = match caught {
                        SIGINT => ("Ctrl-C", "Ctrl-C again"),
                        SIGTERM => ("SIGTERM", "SIGTERM again"),
                        _ => ("SIGHUP", "SIGHUP again"),
                    };
                    eprintln!(
                        "\nsegment-planhat: {name}: stopping after the request in flight \
                         ({again} to stop at once)"
                    );
                }
            }
        })?;
    Ok(Stop { interrupt, signal })
}
