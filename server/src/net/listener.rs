//! Accepting connections on one core.

use super::connection;
use super::ring::NetRing;
use super::socket::Socket;
use crate::core::Core;
use glommio::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;

/// Binds `addr` with SO_REUSEPORT: every core binds the same address and the kernel
/// balances new connections between them. The backlog is Redis's tcp-backlog default.
pub fn bind(addr: &str) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket as RawSocket, Type};
    let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(addr)?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
    let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(511)?;
    Ok(socket.into())
}

/// A bound listening socket, accepted from through the network ring or through glommio.
enum Listener {
    Ring(Rc<NetRing>, std::net::TcpListener),
    Glommio(TcpListener),
}

/// The next connection.
async fn accept(listener: &Listener) -> std::io::Result<Socket> {
    let (ring, listener) = match listener {
        Listener::Glommio(listener) => return Ok(Socket::Glommio(listener.accept().await?)),
        Listener::Ring(ring, listener) => (ring, listener),
    };
    let (result, _) = ring.accept(listener.as_raw_fd()).await;
    let fd = result? as RawFd;
    // SAFETY: the kernel just created `fd` for this connection; nothing else owns it.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    Ok(Socket::Ring {
        ring: ring.clone(),
        stream,
    })
}

pub async fn accept_loop(
    core: Rc<Core>,
    listener: std::net::TcpListener,
    ring: Option<Rc<NetRing>>,
) {
    let listener = match ring {
        Some(ring) => Listener::Ring(ring, listener),
        // SAFETY: the descriptor moves from the std listener to glommio's, which owns it.
        None => Listener::Glommio(unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) }),
    };
    loop {
        let stream = match accept(&listener).await {
            Ok(stream) => stream,
            Err(err) => {
                // Out of file descriptors and the like: keep serving the connections we
                // have and try again shortly, as Redis does.
                eprintln!("holdfast: accept failed on core {}: {err}", core.id);
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        core.stats.borrow_mut().total_connections_received += 1;
        let maxclients = core.settings.borrow().maxclients as usize;
        let connected = core
            .global
            .connected_clients
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if connected > maxclients {
            core.global
                .connected_clients
                .fetch_sub(1, Ordering::Relaxed);
            core.stats.borrow_mut().rejected_connections += 1;
            glommio::spawn_local(connection::refuse(
                stream,
                "ERR max number of clients reached",
            ))
            .detach();
            continue;
        }
        glommio::spawn_local(connection::serve(core.clone(), stream)).detach();
    }
}
