//! The proxy's commands, and the text control port that takes them one per line, for
//! `lab` users and scripts (`echo 'delay both 300' | nc 127.0.0.1 PORT`).
//!
//! ```text
//! delay DIR MS [JITTER_MS]   each chunk released MS (+ up to JITTER_MS) later
//! loss DIR P                 a chunk held for a retransmission timeout with probability P
//! drop DIR P                 a chunk lost for good with probability P: its connection closes
//! partition DIR              nothing forwarded in DIR until heal
//! cut                        close every connection, refuse new ones until heal
//! pause                      forward nothing, accept nothing, until heal
//! heal                       back to a healthy link
//! status                     one line: the faults in force
//! ```
//!
//! DIR is `up` (client to server), `down` (server to client) or `both`. Each command is
//! answered by one line: `OK`, the status, or `ERR` and what was wrong.

use super::link::{Direction, LinkFaults};
use super::Shared;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// One command to the proxy.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Delay {
        directions: Vec<Direction>,
        delay: Duration,
        jitter: Duration,
    },
    Loss {
        directions: Vec<Direction>,
        p: f64,
    },
    Drop {
        directions: Vec<Direction>,
        p: f64,
    },
    Partition {
        directions: Vec<Direction>,
    },
    Cut,
    Pause,
    Heal,
    Status,
}

/// The directions a DIR word names.
pub fn directions(word: &str) -> Result<Vec<Direction>, String> {
    match word {
        "up" => Ok(vec![Direction::Up]),
        "down" => Ok(vec![Direction::Down]),
        "both" => Ok(vec![Direction::Up, Direction::Down]),
        _ => Err(format!("direction must be up, down or both, not {word:?}")),
    }
}

impl std::str::FromStr for Command {
    type Err = String;

    fn from_str(line: &str) -> Result<Command, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ms = |word: &str| {
            word.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{word:?} is not a number of milliseconds"))
        };
        let probability = |word: &str| match word.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
            _ => Err(format!("{word:?} is not a probability between 0 and 1")),
        };
        match words.as_slice() {
            ["delay", dir, delay] => Ok(Command::Delay {
                directions: directions(dir)?,
                delay: ms(delay)?,
                jitter: Duration::ZERO,
            }),
            ["delay", dir, delay, jitter] => Ok(Command::Delay {
                directions: directions(dir)?,
                delay: ms(delay)?,
                jitter: ms(jitter)?,
            }),
            ["loss", dir, p] => Ok(Command::Loss {
                directions: directions(dir)?,
                p: probability(p)?,
            }),
            ["drop", dir, p] => Ok(Command::Drop {
                directions: directions(dir)?,
                p: probability(p)?,
            }),
            ["partition", dir] => Ok(Command::Partition {
                directions: directions(dir)?,
            }),
            ["cut"] => Ok(Command::Cut),
            ["pause"] => Ok(Command::Pause),
            ["heal"] => Ok(Command::Heal),
            ["status"] => Ok(Command::Status),
            _ => Err(format!(
                "unknown command {line:?}; try delay, loss, drop, partition, cut, pause, \
                 heal or status"
            )),
        }
    }
}

/// The command as its control-port line.
impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dirs = |directions: &[Direction]| match directions {
            [Direction::Up] => "up",
            [Direction::Down] => "down",
            _ => "both",
        };
        match self {
            Command::Delay {
                directions,
                delay,
                jitter,
            } => write!(
                f,
                "delay {} {} {}",
                dirs(directions),
                delay.as_millis(),
                jitter.as_millis()
            ),
            Command::Loss { directions, p } => write!(f, "loss {} {p}", dirs(directions)),
            Command::Drop { directions, p } => write!(f, "drop {} {p}", dirs(directions)),
            Command::Partition { directions } => write!(f, "partition {}", dirs(directions)),
            Command::Cut => f.write_str("cut"),
            Command::Pause => f.write_str("pause"),
            Command::Heal => f.write_str("heal"),
            Command::Status => f.write_str("status"),
        }
    }
}

/// The status line: each direction's faults, then the proxy's.
pub fn status(up: &LinkFaults, down: &LinkFaults, cut: bool, paused: bool) -> String {
    let link = |faults: &LinkFaults| {
        format!(
            "delay={}ms jitter={}ms loss={} drop={} partitioned={}",
            faults.delay.as_millis(),
            faults.jitter.as_millis(),
            faults.loss,
            faults.drop,
            faults.held
        )
    };
    format!(
        "up: {}; down: {}; cut={cut} paused={paused}",
        link(up),
        link(down)
    )
}

/// Answers control connections until the proxy stops.
pub(super) fn serve(shared: &Shared, listener: TcpListener) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    std::thread::scope(|scope| loop {
        if shared.lock().stopping {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                scope.spawn(move || session(shared, stream));
            }
            Err(_) => std::thread::sleep(super::ACCEPT_POLL * 10),
        }
    });
}

/// How often a control session checks whether the proxy is stopping.
const SESSION_POLL: Duration = Duration::from_millis(100);

fn session(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(SESSION_POLL));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if shared.lock().stopping {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        if !line.ends_with('\n') {
            continue;
        }
        let reply = match line.trim().parse::<Command>() {
            Ok(command) => super::apply(shared, &command),
            Err(e) => format!("ERR {e}"),
        };
        line.clear();
        if writeln!(writer, "{reply}").is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_command_and_refuses_nonsense() {
        assert_eq!(
            "delay both 300 50".parse(),
            Ok(Command::Delay {
                directions: vec![Direction::Up, Direction::Down],
                delay: Duration::from_millis(300),
                jitter: Duration::from_millis(50),
            })
        );
        assert_eq!(
            "partition down".parse(),
            Ok(Command::Partition {
                directions: vec![Direction::Down]
            })
        );
        assert_eq!(
            "loss up 0.25".parse(),
            Ok(Command::Loss {
                directions: vec![Direction::Up],
                p: 0.25
            })
        );
        assert_eq!(" heal ".parse(), Ok(Command::Heal));
        for line in [
            "delay up 20 5",
            "loss both 0.25",
            "drop down 1",
            "partition both",
            "cut",
        ] {
            assert_eq!(line.parse::<Command>().unwrap().to_string(), line);
        }
        for bad in [
            "delay sideways 3",
            "loss up 1.5",
            "drop up",
            "cut now",
            "",
            "delay up x",
        ] {
            assert!(bad.parse::<Command>().is_err(), "{bad:?} parsed");
        }
    }
}
