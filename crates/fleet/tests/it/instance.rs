//! Instance ids: they round-trip through text, and a local instance whose process is gone reads
//! as dead while a live or remote one does not.

use fleet::InstanceId;

#[test]
fn instance_ids_round_trip_through_text() {
    let instance = InstanceId::new("worker-1.example", 4_242);
    let parsed: InstanceId = instance.to_string().parse().unwrap();
    assert_eq!(parsed, instance);
    assert_eq!(parsed.pid(), 4_242);
    assert_eq!(parsed.hostname(), "worker-1.example");
    assert!("no-pid".parse::<InstanceId>().is_err());
    assert!("host:notanumber:abcd".parse::<InstanceId>().is_err());
}

#[test]
fn a_local_instance_without_a_process_is_dead_and_others_are_not() {
    let me = InstanceId::current();
    assert!(!me.is_local_and_dead(), "this process is alive");
    // Linux pids stay below 2^22, so this one cannot exist.
    let gone = InstanceId::new(me.hostname(), u32::MAX);
    assert!(gone.is_local_and_dead());
    let remote = InstanceId::new("some-other-host.invalid", u32::MAX);
    assert!(
        !remote.is_local_and_dead(),
        "a remote instance cannot be judged from here"
    );
}
