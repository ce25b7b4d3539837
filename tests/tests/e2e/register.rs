//! Outbound registration: the engine REGISTERs to a provider's registrar (SIPp), answers its
//! digest challenge, and is accepted.

use ivr_tests::{ports, Engine, EngineOptions, Sipp};

use super::secs;

fn register_with(password: &str) -> (ivr_tests::SippRun, Engine) {
    let registrar_port = ports::free_sip_port("127.0.0.1");
    let registrar = format!("127.0.0.1:{registrar_port}");
    let sipp = Sipp::new("registrar", registrar.parse().unwrap())
        .local_port(registrar_port)
        .timeout(secs(10))
        .spawn();
    let engine = Engine::start(EngineOptions {
        extra_toml: format!(
            "[[registrations]]\nregistrar = \"{registrar}\"\naor = \"sip:ivr@sipp.example\"\n\
             username = \"ivr\"\npassword = \"{password}\"\nexpires = \"60s\"\n"
        ),
        ..EngineOptions::default()
    });
    (sipp.wait(), engine)
}

#[test]
fn the_engine_registers_with_digest_credentials() {
    let (run, engine) = register_with("s3cret");
    run.assert_success();
    assert!(
        run.messages
            .iter()
            .any(|m| m.outgoing && m.status() == Some(200)),
        "{}",
        run.diagnostics()
    );
    let registers: Vec<_> = run
        .received()
        .filter(|m| m.method() == Some("REGISTER"))
        .collect();
    assert_eq!(registers.len(), 2, "{}", run.diagnostics());
    let auth = registers[1]
        .header("Authorization")
        .expect("the retry carries credentials");
    assert!(
        auth.starts_with("Digest ") && auth.contains("username=\"ivr\""),
        "{auth}"
    );
    assert!(
        auth.contains("realm=\"sipp.example\"") && auth.contains("qop=auth"),
        "{auth}"
    );
    assert!(registers[0]
        .header("Contact")
        .is_some_and(|c| c.contains("sip:")));
    let ok = ivr_tests::wait_until(secs(5), || {
        engine.stderr().contains("registered").then_some(())
    });
    assert!(
        ok.is_some(),
        "the engine did not report the registration:\n{}",
        engine.diagnostics()
    );
}

#[test]
fn a_wrong_password_is_refused_and_reported() {
    let (run, engine) = register_with("wrong");
    run.assert_success();
    let sent_by_registrar = |status| {
        run.messages
            .iter()
            .any(|m| m.outgoing && m.status() == Some(status))
    };
    assert!(
        sent_by_registrar(403) && !sent_by_registrar(200),
        "{}",
        run.diagnostics()
    );
    let failed = ivr_tests::wait_until(secs(5), || {
        engine
            .stderr()
            .contains("registration failed")
            .then_some(())
    });
    assert!(failed.is_some(), "{}", engine.diagnostics());
}
