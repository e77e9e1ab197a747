//! A function's process as Lambda runs it, and what Linux says about it: CPU time and peak memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started function; killed when dropped.
pub struct FunctionProcess {
    child: Child,
    /// When `spawn` was called: a cold start is measured from here.
    pub spawned: Instant,
}

impl FunctionProcess {
    /// Starts `binary` (under `wrap`, a profiler, when given) with exactly `env` (plus `PATH`),
    /// its output appended to `log`.
    pub fn spawn(
        binary: &Path,
        wrap: &[String],
        env: &BTreeMap<String, String>,
        log: &Path,
    ) -> std::io::Result<FunctionProcess> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let mut command = match wrap.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let spawned = Instant::now();
        let child = command.spawn()?;
        Ok(FunctionProcess { child, spawned })
    }

    /// CPU time used so far by all the process's threads (`/proc/<pid>/task/*/schedstat`, in
    /// nanoseconds, unlike the 10-ms ticks of `/proc/<pid>/stat`).
    pub fn cpu_time(&self) -> Duration {
        let tasks = format!("/proc/{}/task", self.child.id());
        let Ok(entries) = std::fs::read_dir(tasks) else {
            return Duration::ZERO;
        };
        let nanos: u64 = entries
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|text| text.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
            .sum();
        Duration::from_nanos(nanos)
    }

    /// Peak resident set size in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    }
}

impl FunctionProcess {
    /// Resident memory now, in KiB, split into pages backed by files (the binary and libraries)
    /// and anonymous pages (heap, stacks): `Rss`, `Anonymous` of `/proc/<pid>/smaps_rollup`.
    pub fn resident_split_kib(&self) -> Option<(u64, u64)> {
        let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.child.id())).ok()?;
        let field = |name: &str| {
            rollup
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
        };
        let (rss, anonymous) = (field("Rss:")?, field("Anonymous:")?);
        Some((rss.saturating_sub(anonymous), anonymous))
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        // SIGTERM first, so a profiler wrapping the function writes its data out.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
