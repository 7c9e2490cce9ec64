//! A command to run, kept as program and arguments so a report can print exactly what
//! ran, quoted so that pasting it into a shell runs the same thing.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    program: PathBuf,
    args: Vec<String>,
}

impl CommandLine {
    pub fn new(program: impl Into<PathBuf>) -> CommandLine {
        CommandLine {
            program: program.into(),
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> CommandLine {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> CommandLine
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs `self` under `taskset -c CPUS`, or unchanged when `cpus` is `None`.
    pub fn pinned(self, taskset: &Path, cpus: Option<&[usize]>) -> CommandLine {
        let Some(cpus) = cpus else {
            return self;
        };
        let mut pinned = CommandLine::new(taskset).args(["-c".to_string(), cpu_list(cpus)]);
        pinned.args.push(self.program.display().to_string());
        pinned.args.extend(self.args);
        pinned
    }

    pub fn to_command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        command
    }
}

/// "0,1" for `[0, 1]`: the form `taskset -c` and `holdfast-server --cpus` both take.
pub fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Quotes `word` for a POSIX shell only when it needs it.
fn shell_quote(word: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_quote(&self.program.display().to_string()))?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_a_pasteable_shell_line() {
        let line = CommandLine::new("redis-server")
            .args(["--save", "", "--appendonly", "no"])
            .arg("it's");
        assert_eq!(
            line.to_string(),
            r"redis-server --save '' --appendonly no 'it'\''s'"
        );
    }

    #[test]
    fn pinning_prefixes_taskset() {
        let line = CommandLine::new("/usr/bin/redis-benchmark")
            .arg("-P")
            .arg("16");
        let pinned = line.clone().pinned(Path::new("taskset"), Some(&[0, 1]));
        assert_eq!(
            pinned.to_string(),
            "taskset -c 0,1 /usr/bin/redis-benchmark -P 16"
        );
        assert_eq!(line.clone().pinned(Path::new("taskset"), None), line);
    }
}
