use proptest::prelude::*;

use super::*;

fn cx(pairs: &[(&str, &str)]) -> Context {
    let mut c = Context::default();
    for (k, v) in pairs {
        let mut values = c.get(k).map(<[String]>::to_vec).unwrap_or_default();
        values.push((*v).to_owned());
        c.set(k, values);
    }
    c
}

fn ask(
    policy: &Policy,
    who: Option<&str>,
    action: &str,
    key: Option<&str>,
    c: &Context,
) -> Verdict {
    let resource = arn("photos", key);
    policy.evaluate(&Request {
        principal: who,
        action,
        resource: &resource,
        context: c,
    })
}

fn parse(text: &str) -> Policy {
    Policy::parse(text, "photos").unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn malformed_policies_say_why() {
    for (text, why) in [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        (r#"{"Version":"2012-10-17"}"#, "Statement"),
        (r#"{"Version":"2011-01-01","Statement":[]}"#, "version"),
        (r#"{"Statement":[]}"#, "at least one"),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}"#,
            "Resource",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
            "Principal",
        ),
        (
            r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
            "effect",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::photos/*"}}"#,
            "invalid action",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}}"#,
            "invalid resource",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"photos/*"}}"#,
            "invalid resource",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
            "principal type",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEqualz":{"s3:prefix":"a"}}}}"#,
            "operator",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/8"}}}}"#,
            "invalid value",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"DateLessThan":{"aws:CurrentTime":"yesterday"}}}}"#,
            "invalid value",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Bogus":1}}"#,
            "unknown field",
        ),
    ] {
        let e = Policy::parse(text, "photos").expect_err(text);
        assert!(e.0.contains(why), "{text}: {e} does not say {why:?}");
    }
}

#[test]
fn principals_actions_and_resources_match_with_wildcards() {
    let p = parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"read","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::alice:root","arn:aws:iam:::user/bob"]},
             "Action":["s3:Get*","s3:ListBucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/pub/*"]}]}"#,
    );
    let none = Context::default();
    assert_eq!(
        ask(&p, Some("alice"), "s3:GetObject", Some("pub/a.jpg"), &none),
        Verdict::Allow
    );
    assert_eq!(
        ask(&p, Some("bob"), "s3:getobjectacl", Some("pub/x"), &none),
        Verdict::Allow
    );
    assert_eq!(
        ask(&p, Some("bob"), "s3:ListBucket", None, &none),
        Verdict::Allow
    );
    assert_eq!(
        ask(&p, Some("carol"), "s3:GetObject", Some("pub/a.jpg"), &none),
        Verdict::Neither
    );
    assert_eq!(
        ask(&p, None, "s3:GetObject", Some("pub/a.jpg"), &none),
        Verdict::Neither
    );
    assert_eq!(
        ask(&p, Some("alice"), "s3:PutObject", Some("pub/a.jpg"), &none),
        Verdict::Neither
    );
    assert_eq!(
        ask(&p, Some("alice"), "s3:GetObject", Some("private/a"), &none),
        Verdict::Neither
    );
    assert!(!p.is_public());
}

#[test]
fn an_explicit_deny_wins_and_not_elements_invert() {
    let p = parse(
        r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"},
            {"Effect":"Deny","NotPrincipal":{"AWS":"alice"},"NotAction":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#,
    );
    let none = Context::default();
    assert_eq!(
        ask(&p, None, "s3:GetObject", Some("k"), &none),
        Verdict::Allow
    );
    assert_eq!(
        ask(&p, Some("bob"), "s3:PutObject", Some("k"), &none),
        Verdict::Deny
    );
    assert_eq!(
        ask(&p, Some("alice"), "s3:PutObject", Some("k"), &none),
        Verdict::Allow
    );
    assert!(p.is_public());
    let p = parse(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::photos/secret/*"}}"#,
    );
    assert_eq!(
        ask(&p, None, "s3:GetObject", Some("a"), &none),
        Verdict::Allow
    );
    assert_eq!(
        ask(&p, None, "s3:GetObject", Some("secret/a"), &none),
        Verdict::Neither
    );
}

fn one_condition(op: &str, key: &str, values: &str) -> Policy {
    parse(&format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos*","Condition":{{"{op}":{{"{key}":{values}}}}}}}}}"#
    ))
}

fn holds(p: &Policy, c: &Context) -> bool {
    ask(p, None, "s3:ListBucket", None, c) == Verdict::Allow
}

#[test]
fn string_and_like_conditions() {
    let p = one_condition("StringEquals", "s3:prefix", r#"["home/", "pub/"]"#);
    assert!(holds(&p, &cx(&[("s3:prefix", "pub/")])));
    assert!(!holds(&p, &cx(&[("s3:prefix", "PUB/")])));
    assert!(
        !holds(&p, &Context::default()),
        "a missing key fails a positive operator"
    );
    let p = one_condition("StringNotEquals", "s3:x-amz-acl", r#""public-read""#);
    assert!(holds(&p, &cx(&[("s3:x-amz-acl", "private")])));
    assert!(!holds(&p, &cx(&[("s3:x-amz-acl", "public-read")])));
    assert!(
        holds(&p, &Context::default()),
        "a missing key satisfies a negated operator"
    );
    let p = one_condition("StringEqualsIgnoreCase", "aws:username", r#""Alice""#);
    assert!(holds(&p, &cx(&[("aws:username", "alice")])));
    let p = one_condition("StringLike", "s3:prefix", r#""home/${x}*""#);
    assert!(holds(&p, &cx(&[("s3:prefix", "home/${x}/docs")])));
    let p = one_condition("StringNotLike", "s3:prefix", r#""secret*""#);
    assert!(!holds(&p, &cx(&[("s3:prefix", "secret/x")])));
    let p = one_condition("StringEqualsIfExists", "s3:delimiter", r#""/""#);
    assert!(holds(&p, &Context::default()));
    assert!(!holds(&p, &cx(&[("s3:delimiter", ",")])));
    // Keys are case-insensitive.
    let p = one_condition("StringEquals", "S3:Prefix", r#""a""#);
    assert!(holds(&p, &cx(&[("s3:prefix", "a")])));
}

#[test]
fn numeric_date_bool_ip_and_null_conditions() {
    let p = one_condition("NumericLessThanEquals", "s3:max-keys", "10");
    assert!(holds(&p, &cx(&[("s3:max-keys", "10")])));
    assert!(!holds(&p, &cx(&[("s3:max-keys", "11")])));
    assert!(!holds(&p, &cx(&[("s3:max-keys", "many")])));
    let p = one_condition(
        "DateGreaterThan",
        "aws:CurrentTime",
        r#""2026-01-01T00:00:00Z""#,
    );
    assert!(holds(
        &p,
        &cx(&[("aws:CurrentTime", "2026-12-07T12:00:00Z")])
    ));
    assert!(!holds(
        &p,
        &cx(&[("aws:CurrentTime", "2025-12-07T12:00:00Z")])
    ));
    let p = one_condition("Bool", "aws:SecureTransport", "false");
    assert!(holds(&p, &cx(&[("aws:SecureTransport", "false")])));
    assert!(!holds(&p, &cx(&[("aws:SecureTransport", "true")])));
    let p = one_condition(
        "IpAddress",
        "aws:SourceIp",
        r#"["10.0.0.0/8", "2001:db8::/32"]"#,
    );
    assert!(holds(&p, &cx(&[("aws:SourceIp", "10.1.2.3")])));
    assert!(holds(&p, &cx(&[("aws:SourceIp", "::ffff:10.1.2.3")])));
    assert!(holds(&p, &cx(&[("aws:SourceIp", "2001:db8::1")])));
    assert!(!holds(&p, &cx(&[("aws:SourceIp", "127.0.0.1")])));
    assert!(!p.is_public(), "confined to addresses");
    let p = one_condition("NotIpAddress", "aws:SourceIp", r#""127.0.0.1""#);
    assert!(!holds(&p, &cx(&[("aws:SourceIp", "127.0.0.1")])));
    assert!(holds(&p, &cx(&[("aws:SourceIp", "127.0.0.2")])));
    let p = one_condition("Null", "s3:x-amz-server-side-encryption", "true");
    assert!(holds(&p, &Context::default()));
    assert!(!holds(
        &p,
        &cx(&[("s3:x-amz-server-side-encryption", "AES256")])
    ));
}

#[test]
fn set_operators_look_at_every_value() {
    let tags = cx(&[
        ("s3:RequestObjectTag/team", "red"),
        ("s3:RequestObjectTag/team", "blue"),
    ]);
    let any = one_condition(
        "ForAnyValue:StringEquals",
        "s3:RequestObjectTag/team",
        r#""red""#,
    );
    assert!(holds(&any, &tags));
    let all = one_condition(
        "ForAllValues:StringEquals",
        "s3:RequestObjectTag/team",
        r#""red""#,
    );
    assert!(!holds(&all, &tags));
    assert!(
        holds(&all, &Context::default()),
        "ForAllValues of nothing holds"
    );
    let all = one_condition(
        "ForAllValues:StringEquals",
        "s3:RequestObjectTag/team",
        r#"["red", "blue"]"#,
    );
    assert!(holds(&all, &tags));
}

#[test]
fn tag_keys_keep_their_case_and_for_any_value_of_nothing_fails() {
    let p = one_condition("StringEquals", "s3:ExistingObjectTag/Env", r#""prod""#);
    assert!(holds(&p, &cx(&[("S3:existingobjecttag/Env", "prod")])));
    assert!(
        !holds(&p, &cx(&[("s3:ExistingObjectTag/env", "prod")])),
        "tag keys are case-sensitive"
    );
    let p = one_condition(
        "ForAnyValue:StringNotEquals",
        "s3:RequestObjectTag/team",
        r#""red""#,
    );
    assert!(
        !holds(&p, &Context::default()),
        "ForAnyValue of no values fails"
    );
    assert!(holds(&p, &cx(&[("s3:RequestObjectTag/team", "blue")])));
}

#[test]
fn not_principal_allows_are_public() {
    let p = parse(
        r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
    );
    assert!(p.is_public());
    assert_eq!(
        ask(&p, None, "s3:GetObject", Some("k"), &Context::default()),
        Verdict::Allow
    );
}

#[test]
fn user_policies_name_no_principal_and_any_bucket() {
    let p = Policy::parse_user(
        r#"{"Statement":{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::shared/alice/*"}}"#,
    )
    .unwrap();
    let none = Context::default();
    let verdict = |resource: &str| {
        p.evaluate(&Request {
            principal: Some("alice"),
            action: "s3:GetObject",
            resource,
            context: &none,
        })
    };
    assert_eq!(verdict("arn:aws:s3:::shared/alice/x"), Verdict::Allow);
    assert_eq!(verdict("arn:aws:s3:::shared/bob/x"), Verdict::Neither);
    let with_principal =
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
    assert!(
        Policy::parse_user(with_principal)
            .unwrap_err()
            .0
            .contains("Principal")
    );
    let star = r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
    assert!(Policy::parse_user(star).is_ok());
    assert!(
        Policy::parse(star, "photos").is_err(),
        "a bucket policy needs a Principal"
    );
}

proptest! {
    /// A pattern without wildcards matches exactly itself; `*` matches everything; a star
    /// anywhere in a pattern taken from the value matches it.
    #[test]
    fn glob_agrees_with_equality(value in "[a-z/.]{0,12}", other in "[a-z/.]{0,12}", cut in 0usize..13) {
        prop_assert_eq!(glob(&value, &other), value == other);
        prop_assert!(glob("*", &value));
        let cut = cut.min(value.len());
        let pattern = format!("{}*{}", &value[..cut], &value[cut..]);
        prop_assert!(glob(&pattern, &value));
        let pattern = format!("{}?{}", &value[..cut], &value[cut..]);
        prop_assert!(!glob(&pattern, &value));
    }

    /// A statement that denies a request beats any number of statements allowing it.
    #[test]
    fn a_matching_deny_always_wins(allows in 0usize..4, who in prop::option::of("[a-c]"), key in "[a-z]{1,6}") {
        let mut statements: Vec<String> = (0..allows)
            .map(|_| r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}"#.to_owned())
            .collect();
        statements.push(r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#.to_owned());
        let p = parse(&format!(r#"{{"Statement":[{}]}}"#, statements.join(",")));
        prop_assert_eq!(ask(&p, who.as_deref(), "s3:GetObject", Some(&key), &Context::default()), Verdict::Deny);
    }
}
