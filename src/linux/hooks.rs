//! OCI hooks: run a program with the container's state on stdin, within a timeout.

use crate::spec::config::Hook;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order with `state` (the OCI state JSON) on their stdin; the first that
/// fails (non-zero exit, signal, timeout, or cannot start) ends the run with an error that
/// names it. `stage` names the hook kind in the message.
pub fn run_all(stage: &str, hooks: &[Hook], state: &[u8]) -> Result<(), String> {
    run_all_in(stage, hooks, state, None)
}

/// As `run_all`, for hooks run inside the container (createContainer, startContainer): a
/// hook without `env` gets `fallback` (the container process's environment), as runc's do.
pub fn run_all_in(
    stage: &str,
    hooks: &[Hook],
    state: &[u8],
    fallback: Option<&[String]>,
) -> Result<(), String> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state, fallback)
            .map_err(|e| format!("{stage} hook #{i} ({}): {e}", h.path.display()))?;
    }
    Ok(())
}

/// Like `run_all`, but every hook runs and each failure becomes a warning (poststart,
/// poststop).
pub fn run_all_warn(stage: &str, hooks: &[Hook], state: &[u8]) -> Vec<String> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            run_one(h, state, None)
                .err()
                .map(|e| format!("{stage} hook #{i} ({}): {e}", h.path.display()))
        })
        .collect()
}

/// Runs one hook. Its environment is exactly its `env`; without one, `fallback`, or when
/// that is None too, the runtime's own environment (runc passes its own: Go's exec.Cmd
/// with a nil Env).
fn run_one(h: &Hook, state: &[u8], fallback: Option<&[String]>) -> Result<(), String> {
    let mut cmd = Command::new(&h.path);
    if let Some((argv0, rest)) = h.args.split_first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(argv0).args(rest);
    }
    if let Some(env) = h.env.as_deref().or(fallback) {
        cmd.env_clear()
            .envs(env.iter().filter_map(|kv| kv.split_once('=')));
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    // A hook may exit without reading its stdin: a broken pipe is not its failure.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state);
    }
    let deadline = h.timeout.map(|t| Instant::now() + Duration::from_secs(t));
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("failed ({st})")),
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // Ignored: the hook may have exited meanwhile; the timeout is the failure.
            let _ = child.kill();
            // Ignored: reaping only.
            let _ = child.wait();
            return Err(format!("timed out after {} s", h.timeout.unwrap_or(0)));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
