//! Several hosts in one test: a key-value server on "db", a client on "app", a partition
//! between them, a heal, and random packet loss.
//!
//! `cargo run --example hosts` runs the scenario in a sandbox and prints its report. As a
//! test it is:
//!
//! ```ignore
//! #[sandboxed(net(hosts = ["app", "db"]))]
//! fn client_survives_a_partition() -> Result<(), HostError> { /* the body below */ }
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use sandbox_test::net::{self, HostError};
use sandbox_test::Sandbox;

/// Runs on "db": answers each line `GET key` with a value.
fn serve() {
    let listener = TcpListener::bind("0.0.0.0:7000").unwrap();
    println!("serving on {}", net_name());
    for stream in listener.incoming() {
        // A client that hangs up early (the body's readiness probe) is not an error.
        let _ = stream.and_then(answer);
    }
}

fn answer(stream: TcpStream) -> std::io::Result<()> {
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut line)?;
    let mut writer = stream;
    writeln!(writer, "value of {} from {}", line.trim(), net_name())
}

fn net_name() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

fn get(key: &str) -> std::io::Result<String> {
    let db = net::host("db").map_err(std::io::Error::other)?;
    let mut stream =
        TcpStream::connect_timeout(&(db.address(), 7000).into(), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    writeln!(stream, "{key}")?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    Ok(answer.trim().to_owned())
}

/// The body: runs on "app".
fn client_survives_a_partition() -> Result<(), HostError> {
    let db = net::host("db")?;
    println!(
        "app is {}, db is {}",
        net::host("app")?.address(),
        db.address()
    );
    let server = db.spawn(serve)?;
    // Wait for the server, by name.
    while TcpStream::connect("db:7000").is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("before: {:?}", get("color"));
    net::partition(&["app"], &["db"])?;
    println!("during the partition: {:?}", get("color"));
    net::heal()?;
    println!("after heal: {:?}", get("color"));
    // One packet in five lost, each way: TCP retransmits, some requests time out.
    net::impair("db", 0.2)?;
    let answered = (0..5).filter(|_| get("color").is_ok()).count();
    println!("with a loss of 0.2 on db: {answered} of 5 requests answered in time");
    net::heal()?;
    server.kill()?;
    println!("the server ended: {}", server.wait()?);
    Ok(())
}

fn main() {
    let report = Sandbox::new()
        .hosts(["app", "db"])
        .expect("two valid host names")
        .run(client_survives_a_partition);
    print!("{}", report.stdout.text());
    eprint!("{}", report.stderr.text());
    println!("outcome: {}", report.outcome);
}
