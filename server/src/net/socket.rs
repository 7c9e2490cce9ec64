//! A client socket, whichever way its I/O goes: through this core's network ring (the
//! default), or through glommio's sockets when the kernel refuses the ring's setup flags.
//! Buffers move into an operation and come back with its result (see ring.rs for why).

use super::ring::NetRing;
use futures::{AsyncReadExt, AsyncWriteExt};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::rc::Rc;

pub enum Socket {
    /// The std stream owns the descriptor (closing it on drop) and answers address
    /// queries; all I/O goes through the ring.
    Ring {
        ring: Rc<NetRing>,
        stream: std::net::TcpStream,
    },
    Glommio(glommio::net::TcpStream),
}

impl Socket {
    pub fn fd(&self) -> RawFd {
        match self {
            Socket::Ring { stream, .. } => stream.as_raw_fd(),
            Socket::Glommio(stream) => stream.as_raw_fd(),
        }
    }

    /// (peer, local) addresses as CLIENT LIST shows them.
    pub fn addrs(&self) -> (String, String) {
        fn text<E>(addr: Result<std::net::SocketAddr, E>) -> String {
            addr.map(|a| a.to_string()).unwrap_or_default()
        }
        match self {
            Socket::Ring { stream, .. } => (text(stream.peer_addr()), text(stream.local_addr())),
            Socket::Glommio(stream) => (text(stream.peer_addr()), text(stream.local_addr())),
        }
    }

    pub fn set_nodelay(&self) {
        let _ = match self {
            Socket::Ring { stream, .. } => stream.set_nodelay(true),
            Socket::Glommio(stream) => stream.set_nodelay(true).map_err(io::Error::from),
        };
    }

    /// Reads into `buffer[at..]`: how many bytes arrived (0 at end of stream).
    pub async fn recv(&mut self, mut buffer: Vec<u8>, at: usize) -> (io::Result<usize>, Vec<u8>) {
        match self {
            Socket::Ring { ring, stream } => ring.recv(stream.as_raw_fd(), buffer, at).await,
            Socket::Glommio(stream) => {
                let result = stream.read(&mut buffer[at..]).await;
                (result, buffer)
            }
        }
    }

    /// A second handle on the same connection, for writing while a read is in flight (a
    /// subscriber's messages): a duplicate descriptor, so the pending read keeps its own.
    pub fn writer(&self) -> io::Result<Socket> {
        // SAFETY: dup(2) of the descriptor this socket owns; the copy gets its own owner.
        let fd = unsafe { libc::dup(self.fd()) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(match self {
            Socket::Ring { ring, .. } => Socket::Ring {
                ring: ring.clone(),
                // SAFETY: `fd` was just created by dup and is owned by nothing else.
                stream: unsafe { std::net::TcpStream::from_raw_fd(fd) },
            },
            // SAFETY: as above.
            Socket::Glommio(_) => {
                Socket::Glommio(unsafe { glommio::net::TcpStream::from_raw_fd(fd) })
            }
        })
    }

    /// Writes all of `buffer`.
    pub async fn send_all(&mut self, mut buffer: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Socket::Ring { ring, stream } => {
                let mut sent = 0;
                while sent < buffer.len() {
                    let (result, back) = ring.send(stream.as_raw_fd(), buffer, sent).await;
                    buffer = back;
                    match result {
                        Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buffer),
                        Ok(n) => sent += n,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) => return (Err(err), buffer),
                    }
                }
                (Ok(()), buffer)
            }
            Socket::Glommio(stream) => {
                let result = stream.write_all(&buffer).await;
                (result, buffer)
            }
        }
    }

    pub async fn close(self) {
        match self {
            Socket::Ring { stream, .. } => drop(stream),
            Socket::Glommio(mut stream) => {
                let _ = stream.close().await;
            }
        }
    }
}
