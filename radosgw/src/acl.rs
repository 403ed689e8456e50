//! Access control lists, as S3 grants them: who may do what with a bucket or an object
//! besides its owner. Canned ACLs (`x-amz-acl`), grant headers (`x-amz-grant-*`) and
//! AccessControlPolicy documents all become one list of grants, stored in the bucket record
//! or the object's metadata and shown back exactly as granted. Pure: the shell checks that
//! the users named exist.

use s3s::S3ErrorCode;
use serde::{Deserialize, Serialize};

use crate::error::{GwError, GwResult};

/// The AllUsers group: anyone, signed or not.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The AuthenticatedUsers group: any signed request.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// The LogDelivery group (server access logs; no principal here is in it).
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// What a grant permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// Bucket: list it. Object: read it.
    Read,
    /// Bucket: write and delete objects in it. (Not grantable on objects.)
    Write,
    /// Read the ACL.
    ReadAcp,
    /// Replace the ACL.
    WriteAcp,
    /// All of the above.
    FullControl,
}

impl Permission {
    /// As S3 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    /// From S3's spelling.
    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s {
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            "FULL_CONTROL" => Permission::FullControl,
            _ => return None,
        })
    }

    /// Whether a grant of `self` permits `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// Whoever owns the bucket or object the list belongs to (what canned ACLs grant).
    Owner,
    /// A user, by uid (S3's canonical id).
    User(String),
    /// Everyone.
    AllUsers,
    /// Every signed request.
    AuthenticatedUsers,
    /// S3's log delivery group.
    LogDelivery,
}

impl Grantee {
    /// The group a URI names.
    pub fn group(uri: &str) -> Option<Grantee> {
        match uri {
            ALL_USERS => Some(Grantee::AllUsers),
            AUTHENTICATED_USERS => Some(Grantee::AuthenticatedUsers),
            LOG_DELIVERY => Some(Grantee::LogDelivery),
            _ => None,
        }
    }

    /// A group's URI (`None` for users).
    pub fn uri(&self) -> Option<&'static str> {
        match self {
            Grantee::AllUsers => Some(ALL_USERS),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS),
            Grantee::LogDelivery => Some(LOG_DELIVERY),
            Grantee::Owner | Grantee::User(_) => None,
        }
    }

    /// Whether a request by `caller` (`None`: anonymous) on something `owner` owns is this
    /// grantee's.
    pub fn includes(&self, caller: Option<&str>, owner: &str) -> bool {
        match self {
            Grantee::Owner => caller == Some(owner),
            Grantee::User(uid) => caller == Some(uid.as_str()),
            Grantee::AllUsers => true,
            Grantee::AuthenticatedUsers => caller.is_some(),
            Grantee::LogDelivery => false,
        }
    }
}

/// One grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    pub grantee: Grantee,
    /// What.
    pub permission: Permission,
}

/// An access control list. Stored records written before grants existed hold a bare canned
/// name ("Private", "PublicRead"); they read as that canned ACL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Acl {
    /// The grants, in the order given.
    pub grants: Vec<Grant>,
}

impl Default for Acl {
    /// Private: the owner has full control, nobody else anything.
    fn default() -> Acl {
        CannedAcl::Private.grants(None)
    }
}

/// An ACL as stored, old or new.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Grants { grants: Vec<Grant> },
    Legacy(LegacyCanned),
}

/// The canned ACLs records held before grants existed.
#[derive(Deserialize)]
enum LegacyCanned {
    Private,
    PublicRead,
}

impl From<Stored> for Acl {
    fn from(stored: Stored) -> Acl {
        match stored {
            Stored::Grants { grants } => Acl { grants },
            Stored::Legacy(LegacyCanned::Private) => CannedAcl::Private.grants(None),
            Stored::Legacy(LegacyCanned::PublicRead) => CannedAcl::PublicRead.grants(None),
        }
    }
}

impl Acl {
    /// Whether the list grants `caller` (`None`: anonymous) `wanted` on something `owner`
    /// owns. An owner may always read and replace its ACL, whatever the list says.
    pub fn allows(&self, caller: Option<&str>, owner: &str, wanted: Permission) -> bool {
        let acp = matches!(wanted, Permission::ReadAcp | Permission::WriteAcp);
        (acp && caller == Some(owner))
            || self
                .grants
                .iter()
                .any(|g| g.permission.covers(wanted) && g.grantee.includes(caller, owner))
    }

    /// Whether anyone at all (AllUsers) or any signed user (AuthenticatedUsers) is granted
    /// something: what public access blocks look for.
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
    }

    /// The users the list names (each must exist when granted).
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.grants.iter().filter_map(|g| match &g.grantee {
            Grantee::User(uid) => Some(uid.as_str()),
            _ => None,
        })
    }
}

/// The canned ACLs S3 defines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CannedAcl {
    /// Only the owner.
    #[default]
    Private,
    /// Anyone may read.
    PublicRead,
    /// Anyone may read and write (a bucket: put and delete objects).
    PublicReadWrite,
    /// Any signed request may read.
    AuthenticatedRead,
    /// An object's bucket owner may read it.
    BucketOwnerRead,
    /// An object's bucket owner has full control of it.
    BucketOwnerFullControl,
    /// The log delivery group may write to the bucket and read its ACL.
    LogDeliveryWrite,
}

impl CannedAcl {
    /// From the `x-amz-acl` value.
    pub fn parse(value: &str) -> GwResult<CannedAcl> {
        Ok(match value {
            "private" => CannedAcl::Private,
            "public-read" => CannedAcl::PublicRead,
            "public-read-write" => CannedAcl::PublicReadWrite,
            "authenticated-read" => CannedAcl::AuthenticatedRead,
            "bucket-owner-read" => CannedAcl::BucketOwnerRead,
            "bucket-owner-full-control" => CannedAcl::BucketOwnerFullControl,
            "log-delivery-write" => CannedAcl::LogDeliveryWrite,
            "aws-exec-read" => {
                return Err(GwError::s3(
                    S3ErrorCode::InvalidArgument,
                    "the canned ACL aws-exec-read grants Amazon EC2, which is not here",
                ));
            }
            other => {
                return Err(GwError::s3(
                    S3ErrorCode::InvalidArgument,
                    format!("unknown canned ACL {other:?}"),
                ));
            }
        })
    }

    /// The grants it stands for; `bucket_owner` is the owner of the bucket an object is
    /// written to (`None` for a bucket's own ACL: the bucket-owner ACLs are then private).
    pub fn grants(self, bucket_owner: Option<&str>) -> Acl {
        let owner = Grant {
            grantee: Grantee::Owner,
            permission: Permission::FullControl,
        };
        let mut grants = vec![owner];
        let mut add = |grantee, permission| {
            grants.push(Grant {
                grantee,
                permission,
            })
        };
        match self {
            CannedAcl::Private => {}
            CannedAcl::PublicRead => add(Grantee::AllUsers, Permission::Read),
            CannedAcl::PublicReadWrite => {
                add(Grantee::AllUsers, Permission::Read);
                add(Grantee::AllUsers, Permission::Write);
            }
            CannedAcl::AuthenticatedRead => add(Grantee::AuthenticatedUsers, Permission::Read),
            CannedAcl::BucketOwnerRead => {
                if let Some(b) = bucket_owner {
                    add(Grantee::User(b.to_owned()), Permission::Read);
                }
            }
            CannedAcl::BucketOwnerFullControl => {
                if let Some(b) = bucket_owner {
                    add(Grantee::User(b.to_owned()), Permission::FullControl);
                }
            }
            CannedAcl::LogDeliveryWrite => {
                add(Grantee::LogDelivery, Permission::Write);
                add(Grantee::LogDelivery, Permission::ReadAcp);
            }
        }
        Acl { grants }
    }
}

/// The `x-amz-grant-*` headers of a request, by permission.
#[derive(Clone, Debug, Default)]
pub struct GrantHeaders<'a> {
    /// `x-amz-grant-read`.
    pub read: Option<&'a str>,
    /// `x-amz-grant-write`.
    pub write: Option<&'a str>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<&'a str>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<&'a str>,
    /// `x-amz-grant-full-control`.
    pub full_control: Option<&'a str>,
}

impl GrantHeaders<'_> {
    /// Whether any is present.
    pub fn any(&self) -> bool {
        self.read.is_some()
            || self.write.is_some()
            || self.read_acp.is_some()
            || self.write_acp.is_some()
            || self.full_control.is_some()
    }

    /// The grants they give: `id="uid"`, `uri="group"` or `emailAddress="..."`, comma
    /// separated. Only the grants: the owner keeps only what they name (as S3 does).
    pub fn grants(&self) -> GwResult<Acl> {
        let mut grants = Vec::new();
        for (value, permission) in [
            (self.read, Permission::Read),
            (self.write, Permission::Write),
            (self.read_acp, Permission::ReadAcp),
            (self.write_acp, Permission::WriteAcp),
            (self.full_control, Permission::FullControl),
        ] {
            let Some(value) = value else { continue };
            for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (kind, who) = part.split_once('=').ok_or_else(|| {
                    GwError::s3(
                        S3ErrorCode::InvalidArgument,
                        format!("a grantee is type=value, not {part:?}"),
                    )
                })?;
                let who = who.trim().trim_matches('"');
                let grantee = grantee(&kind.trim().to_ascii_lowercase(), who)?;
                grants.push(Grant {
                    grantee,
                    permission,
                });
            }
        }
        Ok(Acl { grants })
    }
}

/// A grantee of a grant header: `kind` is `id`, `uri` or `emailaddress`.
fn grantee(kind: &str, who: &str) -> GwResult<Grantee> {
    match kind {
        "id" if !who.is_empty() => Ok(Grantee::User(who.to_owned())),
        "uri" => Grantee::group(who)
            .ok_or_else(|| GwError::s3(S3ErrorCode::InvalidArgument, format!("no group {who:?}"))),
        "emailaddress" => Err(unresolvable_email(who)),
        _ => Err(GwError::s3(
            S3ErrorCode::InvalidArgument,
            format!("a grantee is id=, uri= or emailAddress=, not {kind}={who:?}"),
        )),
    }
}

/// No user here has an email address, so a grant by email resolves to nobody.
pub fn unresolvable_email(email: &str) -> GwError {
    GwError::s3(
        S3ErrorCode::UnresolvableGrantByEmailAddress,
        format!("no user has the email address {email:?}"),
    )
}

/// One grant of an AccessControlPolicy document, as parsed by the S3 layer: the grantee's
/// type (`CanonicalUser`, `Group`, `AmazonCustomerByEmail`), id, URI, email and permission.
#[derive(Clone, Debug, Default)]
pub struct DocumentGrant<'a> {
    /// xsi:type.
    pub kind: &'a str,
    /// ID, for a canonical user.
    pub id: Option<&'a str>,
    /// URI, for a group.
    pub uri: Option<&'a str>,
    /// EmailAddress.
    pub email: Option<&'a str>,
    /// Permission.
    pub permission: Option<&'a str>,
}

/// The ACL an AccessControlPolicy document's grants give.
pub fn from_document(grants: &[DocumentGrant<'_>]) -> GwResult<Acl> {
    let malformed = |why: String| GwError::s3(S3ErrorCode::MalformedACLError, why);
    let mut out = Vec::new();
    for g in grants {
        let permission = g
            .permission
            .ok_or_else(|| malformed("a grant without a Permission".into()))?;
        let permission = Permission::parse(permission)
            .ok_or_else(|| malformed(format!("no permission {permission:?}")))?;
        let grantee = match g.kind {
            "CanonicalUser" => match g.id {
                Some(id) if !id.is_empty() => Grantee::User(id.to_owned()),
                _ => return Err(malformed("a CanonicalUser grantee without an ID".into())),
            },
            "Group" => {
                let uri = g
                    .uri
                    .ok_or_else(|| malformed("a Group grantee without a URI".into()))?;
                Grantee::group(uri).ok_or_else(|| {
                    GwError::s3(S3ErrorCode::InvalidArgument, format!("no group {uri:?}"))
                })?
            }
            "AmazonCustomerByEmail" => return Err(unresolvable_email(g.email.unwrap_or(""))),
            other => return Err(malformed(format!("no grantee type {other:?}"))),
        };
        out.push(Grant {
            grantee,
            permission,
        });
    }
    Ok(Acl { grants: out })
}

/// Who owns what is written into a bucket, and whether ACLs count (S3's object ownership).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ownership {
    /// The writer owns what it writes (S3's behaviour before ownership controls).
    #[default]
    ObjectWriter,
    /// The bucket's owner owns what is written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// ACLs are off: the bucket's owner owns everything in it, and only policies and
    /// ownership decide.
    BucketOwnerEnforced,
}

impl Ownership {
    /// As S3 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::ObjectWriter => "ObjectWriter",
            Ownership::BucketOwnerPreferred => "BucketOwnerPreferred",
            Ownership::BucketOwnerEnforced => "BucketOwnerEnforced",
        }
    }

    /// From S3's spelling.
    pub fn parse(s: &str) -> Option<Ownership> {
        Some(match s {
            "ObjectWriter" => Ownership::ObjectWriter,
            "BucketOwnerPreferred" => Ownership::BucketOwnerPreferred,
            "BucketOwnerEnforced" => Ownership::BucketOwnerEnforced,
            _ => return None,
        })
    }

    /// Who owns an object `writer` writes into a bucket `bucket_owner` owns, asking for
    /// the canned ACL `canned`.
    pub fn object_owner(
        self,
        bucket_owner: &str,
        writer: &str,
        canned: Option<CannedAcl>,
    ) -> String {
        let to_bucket = match self {
            Ownership::ObjectWriter => false,
            Ownership::BucketOwnerPreferred => canned == Some(CannedAcl::BucketOwnerFullControl),
            Ownership::BucketOwnerEnforced => true,
        };
        if to_bucket { bucket_owner } else { writer }.to_owned()
    }
}

/// A bucket's public access block: which public grants are refused or ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Ignore public ACL grants when deciding.
    pub ignore_public_acls: bool,
    /// Refuse a public bucket policy.
    pub block_public_policy: bool,
    /// A public bucket policy allows only the bucket's owner.
    pub restrict_public_buckets: bool,
}

impl Acl {
    /// The list as decisions read it: empty when ACLs are off, without its public grants
    /// when the block says to ignore them.
    pub fn effective(&self, ownership: Ownership, block: Option<&PublicAccessBlock>) -> Acl {
        if ownership == Ownership::BucketOwnerEnforced {
            return Acl::default();
        }
        let ignore = block.is_some_and(|b| b.ignore_public_acls);
        Acl {
            grants: self
                .grants
                .iter()
                .filter(|g| {
                    !(ignore
                        && matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
                })
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_grant_what_s3_says() {
        let acl = CannedAcl::PublicReadWrite.grants(None);
        assert!(acl.allows(None, "o", Permission::Write));
        assert!(acl.allows(None, "o", Permission::Read));
        assert!(!acl.allows(None, "o", Permission::ReadAcp));
        assert!(acl.allows(Some("o"), "o", Permission::WriteAcp));

        let acl = CannedAcl::AuthenticatedRead.grants(None);
        assert!(!acl.allows(None, "o", Permission::Read));
        assert!(acl.allows(Some("x"), "o", Permission::Read));
        assert!(!acl.allows(Some("x"), "o", Permission::Write));

        let acl = CannedAcl::BucketOwnerRead.grants(Some("b"));
        assert!(acl.allows(Some("b"), "w", Permission::Read));
        assert!(!acl.allows(Some("b"), "w", Permission::ReadAcp));
        let acl = CannedAcl::BucketOwnerFullControl.grants(Some("b"));
        assert!(acl.allows(Some("b"), "w", Permission::WriteAcp));

        let acl = CannedAcl::Private.grants(None);
        assert!(acl.allows(Some("o"), "o", Permission::Read));
        assert!(!acl.allows(Some("x"), "o", Permission::Read));
        assert!(!acl.allows(None, "o", Permission::Read));
        assert!(
            !CannedAcl::LogDeliveryWrite
                .grants(None)
                .allows(None, "o", Permission::Write)
        );
        assert!(CannedAcl::parse("aws-exec-read").is_err());
        assert!(CannedAcl::parse("public").is_err());
    }

    #[test]
    fn an_owner_always_keeps_its_acl_but_only_what_is_granted() {
        // A list that names nobody: the owner can still read and replace it, nothing else.
        let empty = Acl { grants: vec![] };
        assert!(empty.allows(Some("o"), "o", Permission::ReadAcp));
        assert!(empty.allows(Some("o"), "o", Permission::WriteAcp));
        assert!(!empty.allows(Some("o"), "o", Permission::Read));
    }

    #[test]
    fn grant_headers_parse_ids_groups_and_refuse_emails() {
        let h = GrantHeaders {
            read: Some(r#"id="alice", uri="http://acs.amazonaws.com/groups/global/AllUsers""#),
            full_control: Some("id=bob"),
            ..GrantHeaders::default()
        };
        let acl = h.grants().unwrap();
        assert_eq!(
            acl.grants,
            vec![
                Grant {
                    grantee: Grantee::User("alice".into()),
                    permission: Permission::Read
                },
                Grant {
                    grantee: Grantee::AllUsers,
                    permission: Permission::Read
                },
                Grant {
                    grantee: Grantee::User("bob".into()),
                    permission: Permission::FullControl
                },
            ]
        );
        assert_eq!(acl.users().collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(acl.is_public());
        for bad in [
            r#"emailAddress="a@b.c""#,
            "uri=http://example.com/group",
            "who=alice",
            "alice",
        ] {
            let h = GrantHeaders {
                read: Some(bad),
                ..GrantHeaders::default()
            };
            assert!(h.grants().is_err(), "{bad}");
        }
    }

    #[test]
    fn documents_need_well_formed_grantees() {
        let ok = DocumentGrant {
            kind: "Group",
            uri: Some(AUTHENTICATED_USERS),
            permission: Some("READ"),
            ..DocumentGrant::default()
        };
        let acl = from_document(std::slice::from_ref(&ok)).unwrap();
        assert_eq!(acl.grants[0].grantee, Grantee::AuthenticatedUsers);
        for bad in [
            DocumentGrant {
                permission: Some("READ_ALL"),
                ..ok.clone()
            },
            DocumentGrant {
                kind: "CanonicalUser",
                ..ok.clone()
            },
            DocumentGrant {
                kind: "AmazonCustomerByEmail",
                email: Some("a@b.c"),
                ..ok.clone()
            },
        ] {
            assert!(
                from_document(std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ownership_and_public_access_blocks_shape_the_effective_acl() {
        let public = CannedAcl::PublicReadWrite.grants(None);
        let block = PublicAccessBlock {
            ignore_public_acls: true,
            ..PublicAccessBlock::default()
        };
        let ignored = public.effective(Ownership::ObjectWriter, Some(&block));
        assert!(!ignored.allows(None, "o", Permission::Read));
        assert!(ignored.allows(Some("o"), "o", Permission::Read));
        assert_eq!(public.effective(Ownership::ObjectWriter, None), public);
        let granted = GrantHeaders {
            read: Some("id=alice"),
            ..GrantHeaders::default()
        }
        .grants()
        .unwrap();
        let off = granted.effective(Ownership::BucketOwnerEnforced, None);
        assert!(!off.allows(Some("alice"), "o", Permission::Read));
        let own = |o: Ownership, canned| o.object_owner("b", "w", canned);
        assert_eq!(
            own(
                Ownership::ObjectWriter,
                Some(CannedAcl::BucketOwnerFullControl)
            ),
            "w"
        );
        assert_eq!(
            own(
                Ownership::BucketOwnerPreferred,
                Some(CannedAcl::BucketOwnerFullControl)
            ),
            "b"
        );
        assert_eq!(own(Ownership::BucketOwnerPreferred, None), "w");
        assert_eq!(own(Ownership::BucketOwnerEnforced, None), "b");
    }

    #[test]
    fn old_records_read_as_their_canned_acl() {
        #[derive(Serialize)]
        enum Old {
            PublicRead,
        }
        let bytes = rmp_serde::to_vec_named(&Old::PublicRead).unwrap();
        let acl: Acl = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(acl, CannedAcl::PublicRead.grants(None));
        let bytes = rmp_serde::to_vec_named(&acl).unwrap();
        assert_eq!(rmp_serde::from_slice::<Acl>(&bytes).unwrap(), acl);
    }
}
