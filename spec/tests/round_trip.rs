//! Typed spec parts -> JSON -> typed parts is the identity, and the id is stable through
//! it: what a recipe lowers to and what the engine reads back are the same thing.
#![allow(clippy::unwrap_used)]

use hit_spec::{
    ArtifactId, BuildSpec, Command, EnvChange, EnvOp, Import, Input, RunCommand, SourceKey,
    SourceSpec, SpecParts,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn variable() -> impl Strategy<Value = String> {
    "[A-Z_][A-Z0-9_]{0,8}"
}

fn relative() -> impl Strategy<Value = String> + Clone {
    "[a-z]{1,5}(/[a-z0-9_-][a-z0-9._-]{0,4}){0,2}"
}

fn env_change() -> impl Strategy<Value = EnvChange> {
    (
        prop_oneof![
            Just(EnvOp::Set),
            Just(EnvOp::PrependPath),
            Just(EnvOp::AppendPath),
            Just(EnvOp::PrependFlag),
            Just(EnvOp::AppendFlag),
        ],
        variable(),
        any::<String>(),
        any::<bool>(),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(op, variable, value, hashed, if_exists)| EnvChange {
            op,
            variable,
            value,
            hashed,
            if_exists,
        })
}

fn run_command() -> impl Strategy<Value = RunCommand> {
    (
        proptest::collection::vec(any::<String>(), 1..4),
        proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<String>(), 0..3).prop_map(Input::Text),
                any::<String>().prop_map(Input::String),
                (any::<i64>(), any::<String>())
                    .prop_map(|(n, s)| Input::Json(serde_json::json!({"n": n, "s": s}))),
            ],
            0..3,
        ),
        proptest::option::of(variable()),
    )
        .prop_map(|(argv, inputs, to_var)| RunCommand {
            argv,
            inputs,
            to_var,
        })
}

fn command() -> impl Strategy<Value = Command> {
    let leaf = prop_oneof![
        run_command().prop_map(Command::Run),
        env_change().prop_map(Command::Env),
        any::<String>().prop_map(Command::Chdir),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Command::Scope)
    })
}

fn source() -> impl Strategy<Value = SourceSpec> {
    let target = proptest::option::of(relative());
    prop_oneof![
        (
            "[0-9a-f]{64}",
            proptest::option::of("https://[a-z]{1,8}/[a-z]{1,8}"),
            target.clone(),
            proptest::option::of(0u32..=64),
        )
            .prop_map(|(hex, url, target, strip)| SourceSpec {
                key: SourceKey::Sha256(hex),
                url,
                target,
                strip,
                files: None,
            }),
        ("[0-9a-f]{40}", target.clone()).prop_map(|(commit, target)| SourceSpec {
            key: SourceKey::Git(commit),
            url: Some("https://example.org/repo.git".into()),
            target,
            strip: None,
            files: None,
        }),
        (
            proptest::collection::btree_map(relative(), any::<String>(), 1..4),
            target
        )
            .prop_map(|(files, target): (BTreeMap<String, String>, _)| {
                SourceSpec::files(files, target)
            }),
    ]
}

fn import() -> impl Strategy<Value = Import> {
    (
        "[a-z][a-z0-9-]{0,8}",
        "[a-z2-7]{32}",
        proptest::option::of(variable()),
        any::<bool>(),
    )
        .prop_map(|(name, hash, reference, in_env)| Import {
            id: format!("{name}/{hash}").parse::<ArtifactId>().unwrap(),
            reference,
            in_env,
        })
}

fn parts() -> impl Strategy<Value = SpecParts> {
    (
        "[a-z][a-z0-9_+-]{0,10}",
        proptest::option::of("[0-9][0-9.a-z]{0,8}"),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::collection::vec(env_change(), 0..3),
        proptest::collection::vec(source(), 0..3),
        proptest::collection::vec(import(), 0..3),
        proptest::collection::vec(command(), 0..5),
    )
        .prop_map(
            |(name, version, description, homepage, run_env, sources, imports, commands)| {
                SpecParts {
                    name,
                    version,
                    description,
                    homepage,
                    run_env,
                    sources,
                    imports,
                    virtual_imports: Vec::new(),
                    hashdist: serde_json::Map::new(),
                    commands,
                }
            },
        )
}

proptest! {
    #[test]
    fn parts_survive_json_and_keep_their_id(parts in parts()) {
        let spec = BuildSpec::new(&parts).unwrap();
        prop_assert_eq!(&spec.parts(), &parts);
        let again = BuildSpec::new(&spec.parts()).unwrap();
        prop_assert_eq!(again.id(), spec.id());
        prop_assert_eq!(again.document(), spec.document());
        // What hit writes, it reads back as written: from_json of the stored form too.
        let stored = BuildSpec::from_json(&hit_spec::pretty_document(spec.document())).unwrap();
        prop_assert_eq!(stored.id(), spec.id());
    }

    #[test]
    fn a_nohash_value_never_changes_the_id(parts in parts(), other in any::<String>()) {
        let mut changed = parts.clone();
        changed.commands.push(Command::Env(EnvChange {
            op: EnvOp::Set,
            variable: "MAKEFLAGS".into(),
            value: "-j1".into(),
            hashed: false,
            if_exists: None,
        }));
        let mut again = changed.clone();
        if let Some(Command::Env(change)) = again.commands.last_mut() {
            change.value = other;
        }
        let (one, other) = (BuildSpec::new(&changed).unwrap(), BuildSpec::new(&again).unwrap());
        prop_assert_eq!(one.id(), other.id());
    }

    #[test]
    fn usage_fields_never_change_the_id(parts in parts(), homepage in any::<String>(), run_env in proptest::collection::vec(env_change(), 0..3)) {
        let mut changed = parts.clone();
        changed.homepage = Some(homepage);
        changed.run_env = run_env;
        let (one, other) = (BuildSpec::new(&changed).unwrap(), BuildSpec::new(&parts).unwrap());
        prop_assert_eq!(one.id(), other.id());
    }
}
