// Flags as the official Flagsmith Node SDK sees them, for Burgee's compatibility tests.
//
// Usage: node flags.mjs remote|local|offline API_URL KEY IDENTITIES_FILE [DOCUMENT_FILE]
// Prints {"environment": {name: [enabled, value]}, "identities": {identifier: {...}}}.
import { readFileSync } from 'node:fs';
import { Flagsmith, LocalFileHandler } from 'flagsmith-nodejs';

const [mode, apiUrl, key, identitiesFile, documentFile] = process.argv.slice(2);
const identities = JSON.parse(readFileSync(identitiesFile, 'utf8'));

let client;
if (mode === 'remote') {
    client = new Flagsmith({ environmentKey: key, apiUrl });
} else if (mode === 'local') {
    client = new Flagsmith({ environmentKey: key, apiUrl, enableLocalEvaluation: true });
} else if (mode === 'offline') {
    client = new Flagsmith({ offlineMode: true, offlineHandler: new LocalFileHandler(documentFile) });
} else {
    throw new Error(`unknown mode ${mode}`);
}

const asDict = (flags) => Object.fromEntries(flags.allFlags().map((f) => [f.featureName, [f.enabled, f.value]]));

const result = { environment: asDict(await client.getEnvironmentFlags()), identities: {} };
for (const identity of identities) {
    result.identities[identity.identifier] = asDict(await client.getIdentityFlags(identity.identifier, identity.traits));
}
console.log(JSON.stringify(result));
await client.close();
process.exit(0);
