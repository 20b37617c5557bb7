use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// A TCP listener with SO_REUSEPORT, so every worker core accepts on its own socket
/// and the kernel spreads connections across cores.
pub fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A UDP socket with SO_REUSEPORT: each worker core receives on its own, and the
/// kernel hashes a peer's address to one of them, so a connection stays on one core.
pub fn reuseport_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    // Bursts of a keyframe's packets from many publishers: 4 MiB of headroom.
    socket.set_recv_buffer_size(4 << 20).ok();
    socket.set_send_buffer_size(4 << 20).ok();
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Accepts connections on `listener` (`what` names it in logs) and hands each to
/// `accepted`, which spawns its task. An accept error (EMFILE and friends) backs
/// off for 100 ms instead of spinning.
pub async fn accept_loop(
    listener: std::net::TcpListener,
    what: &'static str,
    mut accepted: impl FnMut(compio::net::TcpStream, SocketAddr),
) {
    let listener = match compio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(listener = what, error = %e, "cannot register listener");
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                accepted(stream, peer);
            }
            Err(e) => {
                tracing::warn!(listener = what, error = %e, "accept failed");
                compio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
