use sandbox_test::{sandboxed, Outcome, Sandbox};

#[sandboxed]
fn passes() {
    println!("hello from pid {}", std::process::id());
    assert_eq!(std::process::id(), 2);
}

fn panics() {
    panic!("boom");
}

#[test]
fn api_panic() {
    let report = Sandbox::new().run(panics);
    println!("{report:?}");
    assert!(matches!(report.outcome, Outcome::Panicked { ref message, .. } if message == "boom"));
}
