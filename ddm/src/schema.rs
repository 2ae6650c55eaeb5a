//! What the generator knows about each schema file, as tables the runtime consults.

/// One key of a schema dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key as sent.
    pub name: &'static str,
    /// The schema type (`<string>`, `<dictionary>`, ...).
    pub schema_type: &'static str,
    /// `presence: required` in the schema.
    pub required: bool,
}

/// Where one OS allows a type (`supportedOS.<os>.allowed-scopes`, Shared iPad included). An OS
/// entry without `allowed-scopes` states no restriction and allows both scopes (assets,
/// activations and management declarations carry none); OSes marked `n/a` are absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsScopes {
    /// `iOS`, `macOS`, `tvOS`, `visionOS` or `watchOS`.
    pub os: &'static str,
    /// The first version with the type.
    pub introduced: &'static str,
    /// Allowed on the device channel (`system`).
    pub system: bool,
    /// Allowed on the user channel (`user`).
    pub user: bool,
}

/// One schema file: a declaration type, credential schema, status item or protocol object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaEntry {
    /// Declaration type (`com.apple.configuration.passcode.settings`), status item
    /// (`device.model.family`), credential type or protocol object name.
    pub name: &'static str,
    /// The schema file, relative to the schema folder.
    pub schema_path: &'static str,
    /// The schema's title.
    pub title: &'static str,
    /// One-line availability summary.
    pub availability: &'static str,
    /// Top-level keys of the payload (for a status item: the item's own key).
    pub keys: &'static [KeyInfo],
    /// Scopes per OS.
    pub scopes: &'static [OsScopes],
    /// Payload key paths (`/`-separated, arrays transparent) that name an asset, with the asset
    /// types allowed there.
    pub asset_references: &'static [(&'static str, &'static [&'static str])],
}

impl SchemaEntry {
    /// Allowed on the device channel (system scope) on at least one OS.
    pub fn system_scope(&self) -> bool {
        self.scopes.iter().any(|s| s.system)
    }

    /// Allowed on the user channel (user scope) on at least one OS.
    pub fn user_scope(&self) -> bool {
        self.scopes.iter().any(|s| s.user)
    }
}
