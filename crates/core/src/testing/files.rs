//! Conformance: files round-trip byte for byte (across the SQLite store's chunks too), are
//! scoped by tenant, and are reached only by their uploader or through a message that
//! references them, by a member of its chat; a refused upload writes nothing.

use super::*;
use crate::error::{Denied, Entity, Error};
use crate::files::*;

/// A tiny PNG's signature followed by `n` bytes of a pattern.
pub fn png(n: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..n).map(|i| (i * 31 % 251) as u8));
    b
}

fn upload(kind: FileKind, name: &str, bytes: Vec<u8>) -> Upload {
    Upload {
        kind,
        name: name.into(),
        mime: None,
        purpose: if kind == FileKind::Image {
            "message".into()
        } else {
            "stream".into()
        },
        bytes,
    }
}

fn media(kind: MessageType, key: &str) -> Content {
    crate::content::canonical(kind, serde_json::json!({ "key": key })).unwrap()
}

pub async fn files_round_trip_by_tenant(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let bot = Actor::App(f.bot.id);
    let img = png(1000);
    let stored = f
        .core
        .upload_file(
            f.tenant.id,
            bot,
            upload(FileKind::Image, "a.png", img.clone()),
        )
        .await
        .unwrap();
    assert_eq!(stored.kind, FileKind::Image);
    assert_eq!(stored.key.kind(), FileKind::Image);
    assert_eq!(stored.mime, "image/png");
    assert_eq!(stored.size, img.len() as i64);
    assert_eq!(stored.uploader, bot);
    assert_eq!(stored.sha256.len(), 64);

    let meta = store.get_file(f.tenant.id, &stored.key).await.unwrap();
    assert_eq!(
        meta.as_ref(),
        Some(&stored),
        "the row reads back as written"
    );
    let (meta, bytes) = store
        .read_file(f.tenant.id, &stored.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((meta, bytes), (stored.clone(), img));

    // Larger than one SQLite chunk, not a multiple of it: every byte comes back in order.
    let big: Vec<u8> = (0..(2 << 20) + 12345).map(|i| (i % 253) as u8).collect();
    let file = f
        .core
        .upload_file(
            f.tenant.id,
            bot,
            Upload {
                mime: Some("application/pdf".into()),
                ..upload(FileKind::File, "big.pdf", big.clone())
            },
        )
        .await
        .unwrap();
    assert_eq!(file.mime, "application/pdf");
    assert!(file.key.as_str().starts_with("file_v3_"));
    let (_, back) = store
        .read_file(f.tenant.id, &file.key)
        .await
        .unwrap()
        .unwrap();
    assert!(back == big, "{} bytes back of {}", back.len(), big.len());

    let listed = f.core.list_files(f.tenant.id, 10).await.unwrap();
    let mut keys: Vec<&str> = listed.iter().map(|x| x.key.as_str()).collect();
    keys.sort();
    let mut want = vec![stored.key.as_str(), file.key.as_str()];
    want.sort();
    assert_eq!(keys, want, "both uploads are listed");
    // Another tenant's key reads as absent, metadata and bytes alike.
    let other = f.core.create_tenant("Other").await.unwrap();
    assert_eq!(store.get_file(other.id, &stored.key).await.unwrap(), None);
    assert!(store
        .read_file(other.id, &stored.key)
        .await
        .unwrap()
        .is_none());
    assert!(f.core.list_files(other.id, 10).await.unwrap().is_empty());
    let err = f.core.file_info(other.id, &stored.key).await.unwrap_err();
    assert!(matches!(err, FileError::NotFound), "{err:?}");

    // A key is stored once.
    // Bytes that do not match their row are refused before anything is written.
    let dup = store.put_file(stored.clone(), png(3)).await;
    assert!(matches!(dup, Err(StoreError::Internal(_))), "{dup:?}");
    let again = StoredFile {
        size: 11,
        ..stored.clone()
    };
    assert!(matches!(
        store.put_file(again, png(3)).await,
        Err(StoreError::Duplicate("file"))
    ));
    let (_, still) = store
        .read_file(f.tenant.id, &stored.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        still,
        png(1000),
        "a refused duplicate leaves the first intact"
    );
}

pub async fn files_refused_uploads_write_nothing(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let bot = Actor::App(f.bot.id);
    let small = Core::new(
        store.clone(),
        Arc::new(f.clock.clone()),
        CoreConfig {
            files: FileLimits {
                max_image_bytes: 64,
                max_file_bytes: 128,
            },
            ..CoreConfig::default()
        },
    );
    let cases = [
        (
            upload(FileKind::Image, "x.png", png(100)),
            "over the image limit",
        ),
        (
            upload(FileKind::File, "x.bin", vec![7; 129]),
            "over the file limit",
        ),
        (upload(FileKind::Image, "x.png", vec![]), "empty"),
        (upload(FileKind::File, "x.bin", vec![]), "empty file"),
        (
            upload(FileKind::Image, "x.png", b"%PDF-1.7 not an image".to_vec()),
            "not an image",
        ),
        (
            upload(FileKind::File, "a\nb", vec![1; 10]),
            "a name with a newline",
        ),
    ];
    for (up, what) in cases {
        let err = small.upload_file(f.tenant.id, bot, up).await.unwrap_err();
        match what {
            "over the image limit" => {
                assert!(matches!(err, FileError::TooLarge { limit: 64 }), "{err:?}")
            }
            "over the file limit" => {
                assert!(matches!(err, FileError::TooLarge { limit: 128 }), "{err:?}")
            }
            "empty" | "empty file" => assert!(matches!(err, FileError::Empty), "{err:?}"),
            "not an image" => assert!(matches!(err, FileError::NotAnImage), "{err:?}"),
            _ => assert!(
                matches!(err, FileError::Core(Error::Invalid { .. })),
                "{what}: {err:?}"
            ),
        }
    }
    assert!(
        small.list_files(f.tenant.id, 10).await.unwrap().is_empty(),
        "a refused upload leaves no row"
    );
    // At the limit is accepted.
    let ok = small
        .upload_file(f.tenant.id, bot, upload(FileKind::Image, "x.png", png(56)))
        .await
        .unwrap();
    assert_eq!(ok.size, 64);
}

pub async fn files_access_by_uploader_and_through_messages(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let (alice, bob, bot) = (
        Actor::User(f.alice.id),
        Actor::User(f.bob.id),
        Actor::App(f.bot.id),
    );
    let t = f.tenant.id;
    let img = f
        .core
        .upload_file(t, bot, upload(FileKind::Image, "", png(40)))
        .await
        .unwrap();
    let other_img = f
        .core
        .upload_file(t, bot, upload(FileKind::Image, "", png(41)))
        .await
        .unwrap();

    // The uploader downloads by key; nobody else does.
    let (meta, bytes) = f.core.download_own(t, bot, &img.key).await.unwrap();
    assert_eq!((meta.key.clone(), bytes), (img.key.clone(), png(40)));
    let stranger = f.core.create_app(t, "Stranger").await.unwrap();
    let err = f
        .core
        .download_own(t, Actor::App(stranger.id), &img.key)
        .await
        .unwrap_err();
    assert!(matches!(err, FileError::NotUploader), "{err:?}");

    // Through a message: a member may, for the keys the message names only.
    let sent = f
        .core
        .send(Send::new(
            t,
            Recipient::Chat(f.group.id),
            bot,
            MessageType::Image,
            media(MessageType::Image, img.key.as_str()),
        ))
        .await
        .unwrap();
    let id = sent.message.id;
    // The stored file's type and size fill what the content left out.
    let data = sent.message.content.data.to_value();
    assert_eq!(
        (data["format"].as_str(), data["size"].as_i64()),
        (Some("image/png"), Some(48))
    );
    let (_, bytes) = f
        .core
        .download_from_message(t, Access::Member(bob), id, img.key.as_str())
        .await
        .unwrap();
    assert_eq!(bytes, png(40));
    let err = f
        .core
        .download_from_message(t, Access::Member(bob), id, other_img.key.as_str())
        .await
        .unwrap_err();
    assert!(matches!(err, FileError::NotInMessage), "{err:?}");
    let err = f
        .core
        .download_from_message(
            t,
            Access::Member(Actor::App(stranger.id)),
            id,
            img.key.as_str(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, FileError::Core(Error::Forbidden(Denied::NotMember))),
        "{err:?}"
    );
    // Another tenant sees neither the message nor the file.
    let other = f.core.create_tenant("Other").await.unwrap();
    let err = f
        .core
        .download_from_message(other.id, Access::Admin, id, img.key.as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FileError::Core(Error::NotFound(Entity::Chat))),
        "{err:?}"
    );
    let err = f
        .core
        .download_own(other.id, bot, &img.key)
        .await
        .unwrap_err();
    assert!(matches!(err, FileError::NotFound), "{err:?}");

    // A rich text's inline image is referenced too; a key the message names that was
    // never stored is not found.
    let rt = crate::content::canonical(
        MessageType::RichText,
        serde_json::json!({ "paragraphs": [[{ "tag": "img", "key": other_img.key.as_str() }], [{ "tag": "img", "key": "img_v3_00000000000000000000000000000000" }]] }),
    )
    .unwrap();
    let post = f
        .core
        .send(Send::new(
            t,
            Recipient::Chat(f.group.id),
            alice,
            MessageType::RichText,
            rt,
        ))
        .await
        .unwrap();
    let (_, bytes) = f
        .core
        .download_from_message(
            t,
            Access::Member(bot),
            post.message.id,
            other_img.key.as_str(),
        )
        .await
        .unwrap();
    assert_eq!(bytes, png(41));
    let err = f
        .core
        .download_from_message(
            t,
            Access::Member(bot),
            post.message.id,
            "img_v3_00000000000000000000000000000000",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FileError::NotFound), "{err:?}");
}
