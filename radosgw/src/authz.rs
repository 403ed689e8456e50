//! The authorization decision: may this caller do this S3 action on this bucket or object?
//! One pure function of what the request is and what the records say; the S3 layer asks it
//! once per request, after finding the bucket (a bucket that does not exist is NoSuchBucket
//! before any AccessDenied) and, for object actions, the object.
//!
//! In AWS's order: an explicit Deny in the bucket's policy ([`crate::policy`]) refuses
//! (except the owner's own policy calls, so an owner cannot lock itself out); an Allow there
//! allows; otherwise ownership and ACLs ([`crate::acl`]) decide, as S3 without policies does:
//! a bucket's owner may do anything with the bucket (its configuration is the owner's
//! alone), others what the bucket's ACL grants; an object's reads follow the object's own
//! ACL, whoever owns the bucket.

use crate::acl::{Acl, Permission};
use crate::policy::Verdict;

/// An S3 action, named as S3 policies name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// ListObjects(V2), HeadBucket.
    ListBucket,
    /// ListObjectVersions.
    ListBucketVersions,
    /// ListMultipartUploads.
    ListBucketMultipartUploads,
    /// PutObject, CopyObject's destination, multipart uploads.
    PutObject,
    /// DeleteObject, DeleteObjects.
    DeleteObject,
    /// AbortMultipartUpload.
    AbortMultipartUpload,
    /// ListParts.
    ListMultipartUploadParts,
    /// GetBucketAcl.
    GetBucketAcl,
    /// PutBucketAcl.
    PutBucketAcl,
    /// GetObject, HeadObject, CopyObject's and UploadPartCopy's source.
    GetObject,
    /// GetObjectAcl.
    GetObjectAcl,
    /// PutObjectAcl.
    PutObjectAcl,
    /// Anything else: the bucket's configuration, an object's tags, retention and legal
    /// hold, deleting the bucket. Named for the log and for policies.
    OwnerOnly(&'static str),
}

/// What an action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A permission on the bucket (its owner has them all).
    Bucket(Permission),
    /// A permission on the object.
    Object(Permission),
    /// To own the bucket.
    BucketOwner,
}

impl Action {
    /// Its name in policies.
    pub fn name(self) -> &'static str {
        match self {
            Action::ListBucket => "s3:ListBucket",
            Action::ListBucketVersions => "s3:ListBucketVersions",
            Action::ListBucketMultipartUploads => "s3:ListBucketMultipartUploads",
            Action::PutObject => "s3:PutObject",
            Action::DeleteObject => "s3:DeleteObject",
            Action::AbortMultipartUpload => "s3:AbortMultipartUpload",
            Action::ListMultipartUploadParts => "s3:ListMultipartUploadParts",
            Action::GetBucketAcl => "s3:GetBucketAcl",
            Action::PutBucketAcl => "s3:PutBucketAcl",
            Action::GetObject => "s3:GetObject",
            Action::GetObjectAcl => "s3:GetObjectAcl",
            Action::PutObjectAcl => "s3:PutObjectAcl",
            Action::OwnerOnly(name) => name,
        }
    }

    /// Whether its resource is an object (`arn:aws:s3:::bucket/key`) rather than the
    /// bucket: S3's object actions are the `*Object*` ones not about the bucket (not
    /// `s3:PutBucketObjectLockConfiguration`), and these three.
    pub fn on_object_resource(self) -> bool {
        let name = self.name();
        (name.contains("Object") && !name.contains("Bucket"))
            || matches!(
                name,
                "s3:AbortMultipartUpload"
                    | "s3:ListMultipartUploadParts"
                    | "s3:BypassGovernanceRetention"
            )
    }

    /// Its name when the request names a version (S3's `*Version*` actions), if it has one.
    pub fn version_name(self) -> Option<&'static str> {
        Some(match self.name() {
            "s3:GetObject" => "s3:GetObjectVersion",
            "s3:DeleteObject" => "s3:DeleteObjectVersion",
            "s3:GetObjectAcl" => "s3:GetObjectVersionAcl",
            "s3:PutObjectAcl" => "s3:PutObjectVersionAcl",
            "s3:GetObjectTagging" => "s3:GetObjectVersionTagging",
            "s3:PutObjectTagging" => "s3:PutObjectVersionTagging",
            "s3:DeleteObjectTagging" => "s3:DeleteObjectVersionTagging",
            _ => return None,
        })
    }

    /// What it needs under ACLs.
    pub fn need(self) -> Need {
        match self {
            Action::ListBucket
            | Action::ListBucketVersions
            | Action::ListBucketMultipartUploads => Need::Bucket(Permission::Read),
            Action::PutObject
            | Action::DeleteObject
            | Action::AbortMultipartUpload
            | Action::ListMultipartUploadParts => Need::Bucket(Permission::Write),
            Action::GetBucketAcl => Need::Bucket(Permission::ReadAcp),
            Action::PutBucketAcl => Need::Bucket(Permission::WriteAcp),
            Action::GetObject => Need::Object(Permission::Read),
            Action::GetObjectAcl => Need::Object(Permission::ReadAcp),
            Action::PutObjectAcl => Need::Object(Permission::WriteAcp),
            Action::OwnerOnly(_) => Need::BucketOwner,
        }
    }

    /// Whether the object must be read before deciding.
    pub fn on_object(self) -> bool {
        matches!(self.need(), Need::Object(_))
    }
}

/// The owner and ACL of a bucket or an object.
#[derive(Clone, Copy, Debug)]
pub struct Owned<'a> {
    /// Its owner's uid.
    pub owner: &'a str,
    /// Its ACL.
    pub acl: &'a Acl,
}

/// The verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// AccessDenied.
    Deny,
}

/// The bucket-policy calls, which the bucket's owner may always make.
const POLICY_CALLS: &[&str] = &[
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketPolicyStatus",
];

/// What the policies say of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdicts {
    /// The bucket's policy (`Neither` without one).
    pub bucket: Verdict,
    /// The caller's own policy, if it has one. It confines the caller: what it does not
    /// allow is denied, and what it allows is still decided by the rest.
    pub user: Option<Verdict>,
}

impl Verdicts {
    /// No policy anywhere.
    pub const NONE: Verdicts = Verdicts {
        bucket: Verdict::Neither,
        user: None,
    };
}

/// Whether `caller` (a uid; `None`: anonymous) may do `action` on `bucket`, and on `object`
/// for object actions (without it, an object action is denied), given what the policies
/// say of the request.
pub fn decide(
    caller: Option<&str>,
    action: Action,
    bucket: Owned<'_>,
    object: Option<Owned<'_>>,
    policies: Verdicts,
) -> Decision {
    let bucket_owner = caller == Some(bucket.owner);
    if matches!(policies.user, Some(Verdict::Deny | Verdict::Neither)) {
        return Decision::Deny;
    }
    // The policy calls are the bucket owner's alone, whatever a policy says.
    if POLICY_CALLS.contains(&action.name()) {
        return if bucket_owner {
            Decision::Allow
        } else {
            Decision::Deny
        };
    }
    // A bucket policy speaks for the bucket's owner: its allow reaches objects the owner
    // owns, not those another user wrote (their own ACLs decide those).
    let policy_reaches = match (action.need(), object) {
        (Need::Object(_), Some(o)) => o.owner == bucket.owner,
        (Need::Object(_), None) => false,
        _ => true,
    };
    match policies.bucket {
        Verdict::Deny => return Decision::Deny,
        Verdict::Allow if policy_reaches => return Decision::Allow,
        _ => {}
    }
    let allowed = match action.need() {
        Need::BucketOwner => bucket_owner,
        Need::Bucket(p) => bucket_owner || bucket.acl.allows(caller, bucket.owner, p),
        Need::Object(p) => object.is_some_and(|o| o.acl.allows(caller, o.owner, p)),
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{CannedAcl, Grant, Grantee};
    use proptest::prelude::*;

    const ACTIONS: [Action; 13] = [
        Action::ListBucket,
        Action::AbortMultipartUpload,
        Action::ListBucketVersions,
        Action::ListBucketMultipartUploads,
        Action::PutObject,
        Action::DeleteObject,
        Action::ListMultipartUploadParts,
        Action::GetBucketAcl,
        Action::PutBucketAcl,
        Action::GetObject,
        Action::GetObjectAcl,
        Action::PutObjectAcl,
        Action::OwnerOnly("s3:PutBucketVersioning"),
    ];
    const USERS: [&str; 3] = ["owner", "alice", "bob"];

    fn bucket_says(bucket: Verdict) -> Verdicts {
        Verdicts { bucket, user: None }
    }

    fn grantee() -> impl Strategy<Value = Grantee> {
        prop_oneof![
            Just(Grantee::Owner),
            (0..USERS.len()).prop_map(|u| Grantee::User(USERS[u].into())),
            Just(Grantee::AllUsers),
            Just(Grantee::AuthenticatedUsers),
            Just(Grantee::LogDelivery),
        ]
    }

    fn permission() -> impl Strategy<Value = Permission> {
        prop_oneof![
            Just(Permission::Read),
            Just(Permission::Write),
            Just(Permission::ReadAcp),
            Just(Permission::WriteAcp),
            Just(Permission::FullControl),
        ]
    }

    fn acl() -> impl Strategy<Value = Acl> {
        prop::collection::vec(
            (grantee(), permission()).prop_map(|(grantee, permission)| Grant {
                grantee,
                permission,
            }),
            0..5,
        )
        .prop_map(|grants| Acl { grants })
    }

    fn caller() -> impl Strategy<Value = Option<&'static str>> {
        prop_oneof![Just(None), (0..USERS.len()).prop_map(|u| Some(USERS[u]))]
    }

    proptest! {
        /// Without a grant that names them or a group they are in, only owners get
        /// anywhere; nobody but the bucket's owner does what only the owner may.
        #[test]
        fn only_what_is_granted_is_allowed(
            bucket_acl in acl(), object_acl in acl(), caller in caller(),
            object_owner in 0..USERS.len(),
        ) {
            let bucket = Owned { owner: "owner", acl: &bucket_acl };
            let object = Owned { owner: USERS[object_owner], acl: &object_acl };
            for action in ACTIONS {
                let allowed = decide(caller, action, bucket, Some(object), Verdicts::NONE) == Decision::Allow;
                let (owned, acl) = match action.need() {
                    Need::BucketOwner => {
                        prop_assert_eq!(allowed, caller == Some("owner"));
                        continue;
                    }
                    Need::Bucket(_) => (bucket, &bucket_acl),
                    Need::Object(_) => (object, &object_acl),
                };
                let owner = caller == Some(owned.owner);
                let named = acl.grants.iter().any(|g| g.grantee.includes(caller, owned.owner));
                if allowed {
                    prop_assert!(owner || named, "{action:?} allowed to {caller:?} by nothing");
                }
                if caller.is_none() {
                    let public = acl.grants.iter().any(|g| g.grantee == Grantee::AllUsers);
                    prop_assert!(!allowed || public, "{action:?} allowed to anonymous");
                }
                // Owners are never locked out of their bucket or their ACL.
                if owner && (matches!(action.need(), Need::Bucket(_))
                    || matches!(action, Action::GetObjectAcl | Action::PutObjectAcl))
                {
                    prop_assert!(allowed, "{action:?} denied to the owner");
                }
            }
        }

        /// Full control granted to a user allows that user every action an ACL can grant.
        #[test]
        fn full_control_covers_every_grantable_action(caller in 1..USERS.len()) {
            let acl = Acl { grants: vec![Grant {
                grantee: Grantee::User(USERS[caller].into()),
                permission: Permission::FullControl,
            }] };
            let owned = Owned { owner: "owner", acl: &acl };
            for action in ACTIONS {
                let d = decide(Some(USERS[caller]), action, owned, Some(owned), Verdicts::NONE);
                prop_assert_eq!(d == Decision::Allow, action.need() != Need::BucketOwner);
            }
        }
    }

    proptest! {
        /// A policy's explicit deny refuses everyone, owners too, but never the owner's own
        /// policy calls; its allow allows whatever the ACLs say.
        #[test]
        fn a_policy_verdict_comes_before_the_acls(bucket_acl in acl(), caller in caller()) {
            let bucket = Owned { owner: "owner", acl: &bucket_acl };
            for action in ACTIONS {
                let object = Some(bucket);
                prop_assert_eq!(decide(caller, action, bucket, object, bucket_says(Verdict::Allow)), Decision::Allow);
                prop_assert_eq!(decide(caller, action, bucket, object, bucket_says(Verdict::Deny)), Decision::Deny);
            }
            // A user's own policy confines it: only what it allows can be allowed at all.
            for action in ACTIONS {
                for bucket_verdict in [Verdict::Allow, Verdict::Neither] {
                    let confined = Verdicts { bucket: bucket_verdict, user: Some(Verdict::Neither) };
                    prop_assert_eq!(decide(caller, action, bucket, Some(bucket), confined), Decision::Deny);
                    let denied = Verdicts { bucket: bucket_verdict, user: Some(Verdict::Deny) };
                    prop_assert_eq!(decide(caller, action, bucket, Some(bucket), denied), Decision::Deny);
                }
                let free = Verdicts { bucket: Verdict::Neither, user: Some(Verdict::Allow) };
                prop_assert_eq!(
                    decide(caller, action, bucket, Some(bucket), free),
                    decide(caller, action, bucket, Some(bucket), Verdicts::NONE),
                    "a user's allow grants nothing by itself"
                );
            }
            let own_policy = Action::OwnerOnly("s3:PutBucketPolicy");
            let verdict = decide(caller, own_policy, bucket, None, bucket_says(Verdict::Deny));
            prop_assert_eq!(verdict == Decision::Allow, caller == Some("owner"));
        }
    }

    #[test]
    fn a_bucket_policy_speaks_for_the_owner_only() {
        let private = Acl::default();
        let bucket = Owned {
            owner: "owner",
            acl: &private,
        };
        let theirs = Owned {
            owner: "alice",
            acl: &private,
        };
        let allow = bucket_says(Verdict::Allow);
        // Its allow does not reach an object another user wrote...
        assert_eq!(
            decide(Some("bob"), Action::GetObject, bucket, Some(theirs), allow),
            Decision::Deny
        );
        // ...nor give anyone but the owner the policy calls.
        let put_policy = Action::OwnerOnly("s3:PutBucketPolicy");
        assert_eq!(
            decide(Some("bob"), put_policy, bucket, None, allow),
            Decision::Deny
        );
        assert_eq!(
            decide(
                Some("owner"),
                Action::OwnerOnly("s3:PutBucketObjectLockConfiguration"),
                bucket,
                None,
                Verdicts::NONE
            ),
            Decision::Allow
        );
        assert!(!Action::OwnerOnly("s3:PutBucketObjectLockConfiguration").on_object_resource());
        assert!(Action::OwnerOnly("s3:GetObjectLegalHold").on_object_resource());
        assert!(Action::AbortMultipartUpload.on_object_resource());
        assert!(!Action::ListBucketMultipartUploads.on_object_resource());
    }

    #[test]
    fn an_object_action_without_the_object_is_denied() {
        let acl = CannedAcl::PublicRead.grants(None);
        let owned = Owned {
            owner: "owner",
            acl: &acl,
        };
        assert_eq!(
            decide(None, Action::GetObject, owned, None, Verdicts::NONE),
            Decision::Deny
        );
        assert_eq!(
            decide(None, Action::GetObject, owned, Some(owned), Verdicts::NONE),
            Decision::Allow
        );
    }

    #[test]
    fn a_bucket_owner_reads_others_objects_only_when_granted() {
        let private = Acl::default();
        let bucket = Owned {
            owner: "owner",
            acl: &private,
        };
        let theirs = Owned {
            owner: "alice",
            acl: &private,
        };
        assert_eq!(
            decide(
                Some("owner"),
                Action::GetObject,
                bucket,
                Some(theirs),
                Verdicts::NONE
            ),
            Decision::Deny
        );
        // ...but may delete them: deletion is a write to the bucket.
        assert_eq!(
            decide(
                Some("owner"),
                Action::DeleteObject,
                bucket,
                Some(theirs),
                Verdicts::NONE
            ),
            Decision::Allow
        );
        let granted = CannedAcl::BucketOwnerRead.grants(Some("owner"));
        let theirs = Owned {
            owner: "alice",
            acl: &granted,
        };
        assert_eq!(
            decide(
                Some("owner"),
                Action::GetObject,
                bucket,
                Some(theirs),
                Verdicts::NONE
            ),
            Decision::Allow
        );
    }
}
