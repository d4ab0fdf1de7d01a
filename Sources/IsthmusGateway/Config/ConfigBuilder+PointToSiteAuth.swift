/// `point_to_site.auth` and `point_to_site.users_file`.
extension ConfigBuilder {
    /// Reads how clients authenticate; with `eap-mschapv2` the users file must exist and load without error
    /// (its own problems are reported at their lines of the users file).
    mutating func readClientAuthentication(_ fields: [String: LocatedNode], into pointToSite: inout PointToSite) {
        if let node = fields["auth"], let items = reader.sequence(node, what: "point_to_site.auth", scalarAsList: true)
        {
            var methods: [ClientAuthMethod] = []
            for item in items {
                guard let method = reader.choice(item, what: "client authentication", as: ClientAuthMethod.self)
                else { continue }
                if methods.contains(method) {
                    reader.sink.error(item.location, "'\(method.rawValue)' is listed twice in point_to_site.auth")
                } else {
                    methods.append(method)
                }
            }
            if methods.isEmpty {
                reader.sink.error(
                    node.location, "point_to_site.auth names no method", fix: "write e.g. auth: [eap-mschapv2]")
            }
            pointToSite.clientAuth = methods
        }
        if let node = fields["users_file"], let path = reader.string(node, what: "users_file") {
            pointToSite.usersFile = path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
        }
        guard pointToSite.clientAuth.contains(.eapMSCHAPv2) else { return }
        guard let usersFile = pointToSite.usersFile else {
            reader.sink.error(
                fields["auth"]?.location ?? .start, "eap-mschapv2 needs a users_file",
                fix: "add 'users_file: users.yaml' (mode 0600, lines 'name: password') under point_to_site")
            return
        }
        let loaded = EAPUsersFile.load(path: usersFile)
        guard loaded.users == nil else { return }
        let location = fields["users_file"]?.location ?? .start
        for problem in loaded.diagnostics where problem.severity == .error {
            var diagnostic = Diagnostic(
                .error, file: reader.sink.file, at: location, "users_file: \(problem.message)", fix: problem.fix)
            diagnostic.notes = [Diagnostic.Note(file: problem.file, at: problem.location, problem.message)]
            reader.sink.append(diagnostic)
        }
    }
}
