//! Every process xtask starts goes through this module: cargo, redis-server, apt-get.
//!
//! It prints each command before running it (to stderr, so stdout stays free for benchmark
//! JSON lines) and turns spawn failures into errors that name the program. It does not decide
//! what to run or what a failure means; callers do.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{Context, Result, bail};

/// A `cargo` command, using the cargo that runs xtask (`$CARGO`) so toolchains stay consistent.
pub(crate) fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(crate::metadata::workspace_root());
    command
}

/// A command for any other program.
pub(crate) fn command(program: impl AsRef<OsStr>) -> Command {
    Command::new(program)
}

/// Runs `command` with inherited stdio and returns its exit status.
pub(crate) fn run(command: &mut Command) -> Result<ExitStatus> {
    let description = describe(command);
    eprintln!("$ {description}");
    command.status().with_context(|| {
        format!("could not start `{description}`; is the program installed and on PATH?")
    })
}

/// Runs `command` with inherited stdio and fails unless it exits successfully.
pub(crate) fn run_checked(command: &mut Command) -> Result<()> {
    let status = run(command)?;
    if !status.success() {
        bail!(
            "`{}` failed ({})",
            describe(command),
            describe_status(status)
        );
    }
    Ok(())
}

/// Runs `command` with all output discarded and says whether it succeeded; a program that
/// cannot be started counts as a failure.
pub(crate) fn succeeds_quietly(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `command` and returns its stdout as text, failing (with its stderr) unless it succeeds.
pub(crate) fn output_text(command: &mut Command) -> Result<String> {
    let description = describe(command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{description}`"))?;
    if !output.status.success() {
        bail!(
            "`{description}` failed ({}): {}",
            describe_status(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("`{description}` printed invalid UTF-8"))
}

/// Starts `command` in the background with stdout and stderr appended to `log_path`.
pub(crate) fn spawn_logged(command: &mut Command, stdin: Stdio, log_path: &Path) -> Result<Child> {
    let description = describe(command);
    let log = File::create(log_path)
        .with_context(|| format!("could not create the log file {}", log_path.display()))?;
    let log_for_stderr = log
        .try_clone()
        .context("could not duplicate the log file handle")?;
    eprintln!("$ {description} > {}", log_path.display());
    command
        .stdin(stdin)
        .stdout(log)
        .stderr(log_for_stderr)
        .spawn()
        .with_context(|| format!("could not start `{description}`"))
}

/// Starts `command` with its stdout piped to the caller and stderr inherited.
pub(crate) fn spawn_with_piped_stdout(command: &mut Command) -> Result<Child> {
    let description = describe(command);
    eprintln!("$ {description}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{description}`"))
}

/// Finds `program` in the directories of `$PATH`, like `command -v`.
pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// `program arg arg …`, with environment variables that were set explicitly in front.
pub(crate) fn describe(command: &Command) -> String {
    let envs = command.get_envs().filter_map(|(key, value)| {
        Some(format!(
            "{}={}",
            key.to_string_lossy(),
            value?.to_string_lossy()
        ))
    });
    // `$CARGO` is a long toolchain path; the reader only needs to know it is cargo.
    let program = Path::new(command.get_program());
    let program = if program.file_name() == Some(OsStr::new("cargo")) {
        Path::new("cargo")
    } else {
        program
    };
    let program = std::iter::once(program.to_string_lossy().into_owned());
    let args = command.get_args().map(|arg| {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains(' ') {
            format!("{arg:?}")
        } else {
            arg.into_owned()
        }
    });
    envs.chain(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// "exit code 3", or the signal that ended the process.
pub(crate) fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown status".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_env_program_and_quoted_arguments() {
        let mut command = Command::new("redis-server");
        command.args(["--save", "", "--port", "6379"]).env("A", "b");
        assert_eq!(
            describe(&command),
            r#"A=b redis-server --save "" --port 6379"#
        );
    }

    #[test]
    fn describe_shortens_the_toolchain_path_of_cargo() {
        let command = Command::new("/root/.rustup/toolchains/stable/bin/cargo");
        assert_eq!(describe(&command), "cargo");
    }

    #[test]
    fn find_on_path_finds_sh_and_not_nonsense() {
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("surely-not-a-program-xtask-knows").is_none());
    }
}
