/// The names an MLflow Model Registry accepts as an alias (MLflow 2.x/3.x
/// `_validate_model_alias_name` and `_validate_model_alias_name_reserved`):
/// ASCII letters, digits, `_` and `-`, at most 255 characters, and neither
/// `latest` nor a version-like `v3`, which MLflow reserves.
///
///     RegistryAlias.problem(with: "churn-prod")  // nil
///     RegistryAlias.problem(with: "v2")          // "alias \"v2\" is reserved by MLflow …"
public enum RegistryAlias {
    public static func problem(with alias: String) -> String? {
        if alias.isEmpty { return "an alias must not be empty" }
        if alias.utf8.count > 255 { return "alias \"\(alias.prefix(20))…\" is longer than 255 characters" }
        let allowed = alias.utf8.allSatisfy { byte in
            (byte >= 97 && byte <= 122) || (byte >= 65 && byte <= 90) || (byte >= 48 && byte <= 57) || byte == 95 || byte == 45
        }
        if !allowed { return "invalid alias \"\(alias.clipped)\": MLflow allows only letters, digits, '_' and '-'" }
        let lower = alias.lowercased()
        if lower == "latest" || (lower.count > 1 && lower.hasPrefix("v") && lower.dropFirst().allSatisfy(\.isNumber)) {
            return "alias \"\(alias)\" is reserved by MLflow (\"latest\" and version names such as \"v3\" are); choose another"
        }
        return nil
    }
}
