//! Stored files: their records and signed URLs, deleting them, storage
//! usage, and the two steps of instant upload. Moving bytes (uploads with
//! resume, downloads with resume) is [`crate::transfer`]'s.

use ferry_api::{
    FileInfo, FileList, FileResponse, InstantChallenge, InstantChallengeResponse, InstantProof, InstantRequest,
    StorageUsage, UrlsRequest,
};
use ferry_core::ErrorCode;
use reqwest::Method;

use super::{HttpApi, encode_path_segment};
use crate::error::Result;

/// The most ids `POST /files/urls` takes; [`HttpApi::file_urls`] splits
/// longer lists.
const MAX_URL_IDS: usize = 200;

impl HttpApi {
    /// A file's record, with fresh signed URLs. `not_found` for files you
    /// cannot read.
    pub async fn file_info(&self, id: &str) -> Result<FileInfo> {
        let path = format!("/files/{}/info", encode_path_segment(id));
        let answer: FileResponse = self.call(self.req(Method::GET, &path)).await?;
        Ok(answer.file)
    }

    /// Fresh signed URLs for the files among `ids` you can read (any number
    /// of ids; the others are left out).
    pub async fn file_urls(&self, ids: &[String]) -> Result<Vec<FileInfo>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_URL_IDS) {
            let body = UrlsRequest { ids: chunk.to_vec() };
            let answer: FileList = self.call(self.req(Method::POST, "/files/urls").json(&body)).await?;
            out.extend(answer.files);
        }
        Ok(out)
    }

    /// Deletes one of your files (and its thumbnail).
    pub async fn delete_file(&self, id: &str) -> Result<()> {
        let path = format!("/files/{}", encode_path_segment(id));
        self.call_empty(self.req(Method::DELETE, &path)).await
    }

    /// What you store, and your quota.
    pub async fn storage_usage(&self) -> Result<StorageUsage> {
        self.call(self.req(Method::GET, "/me/storage")).await
    }

    /// Instant upload, step 1: asks whether the server already stores
    /// content with this digest (64 lower-case hex digits) and size. `None`
    /// when it does not (upload the bytes); otherwise the challenge to
    /// answer with [`HttpApi::instant_proof`].
    pub async fn instant_challenge(&self, sha256: &str, size: u64) -> Result<Option<InstantChallenge>> {
        let body = InstantRequest { sha256: sha256.to_owned(), size };
        match self.call::<InstantChallengeResponse>(self.req(Method::POST, "/files/instant").json(&body)).await {
            Ok(answer) => Ok(Some(answer.challenge)),
            Err(e) if e.code() == Some(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Instant upload, step 2: the proof (see [`crate::transfer`] for how it
    /// is computed) and the new file's name and declared type.
    pub async fn instant_proof(&self, proof: &InstantProof) -> Result<FileInfo> {
        let answer: FileResponse = self.call(self.req(Method::POST, "/files/instant/proof").json(proof)).await?;
        Ok(answer.file)
    }
}
