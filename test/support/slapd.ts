// A real OpenLDAP server (Debian's slapd) on 127.0.0.1 with its own temporary cn=config, holding a
// small dcm4chee-like tree as Kaapana 0.2.x leaves it: device KAAPANA, its AE, users and roles,
// no auth role yet. The schema is a test schema shaped like dcm4che's (own OIDs, a few attributes).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { freePort } from '../../src/free-ports.js';
import os from 'node:os';
import path from 'node:path';

export interface TestSlapd {
  url: string;
  baseDn: string;
  /** cn=config directory: what the ldap image has at /etc/openldap/slapd.d. */
  configDir: string;
  /** What the image's setenv.sh gives its scripts. */
  env: Record<string, string>;
  /** ldapsearch -LLL output of one entry's attributes (empty when the entry does not exist). */
  read(dn: string, attrs?: string[]): Promise<string>;
  /** ldapmodify as the root DN; resolves with its exit code and output. */
  modify(ldif: string, extraArgs?: string[]): Promise<ToolResult>;
  stop(): Promise<void>;
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

const BASE = 'dc=dcm4che,dc=org';
const ROOT_PW = 'secret';
const CONFIG_PW = 'configsecret';
/** Test-only OIDs under the UUID arc (2.25), so they collide with nothing real. */
const OID = '2.25.123006136606884706552439414403632708677';
const SLAPD = '/usr/sbin/slapd';
const MODULES = '/usr/lib/ldap';
const SCHEMAS = '/etc/ldap/schema';

/** The schema before update-schema; test/support/ldap-bin/schema/dicomtest-modify.ldif extends it. */
const TEST_SCHEMA = `dn: cn=dicomtest,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: dicomtest
olcAttributeTypes: ( ${OID}.1.1 NAME 'dicomDeviceName' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcAttributeTypes: ( ${OID}.1.2 NAME 'dicomAETitle' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcAttributeTypes: ( ${OID}.1.3 NAME 'dcmProperty' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
olcAttributeTypes: ( ${OID}.1.4 NAME 'dcmAcceptedUserRole' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
olcAttributeTypes: ( ${OID}.1.5 NAME 'dcmTag' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
olcAttributeTypes: ( ${OID}.1.6 NAME 'dcmExporterID' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcObjectClasses: ( ${OID}.2.1 NAME 'dicomDevice' SUP top STRUCTURAL MUST dicomDeviceName MAY ( dcmProperty $ dcmTag ) )
olcObjectClasses: ( ${OID}.2.2 NAME 'dicomNetworkAE' SUP top STRUCTURAL MUST dicomAETitle MAY ( dcmProperty $ dcmAcceptedUserRole ) )
olcObjectClasses: ( ${OID}.2.3 NAME 'dcmExporter' SUP top STRUCTURAL MUST dcmExporterID MAY dcmProperty )
`;

function configLdif(dir: string): string {
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${dir}/slapd.pid

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: ${MODULES}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://${SCHEMAS}/core.ldif

include: file://${SCHEMAS}/cosine.ldif

include: file://${SCHEMAS}/inetorgperson.ldif

${TEST_SCHEMA}
dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: cn=admin,cn=config
olcRootPW: ${CONFIG_PW}

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${BASE}
olcRootDN: cn=admin,${BASE}
olcRootPW: ${ROOT_PW}
olcDbDirectory: ${dir}/data
olcDbMaxSize: 67108864
`;
}

function treeLdif(device: string): string {
  const devices = `cn=Devices,cn=DICOM Configuration,${BASE}`;
  const users = `ou=users,${BASE}`;
  const person = (uid: string) => `dn: uid=${uid},${users}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\n`;
  const role = (cn: string, uid: string) => `dn: cn=${cn},${users}\nobjectClass: groupOfNames\ncn: ${cn}\nmember: uid=${uid},${users}\n`;
  return [
    `dn: ${BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: dcm4che\no: dcm4che.org\n`,
    `dn: cn=DICOM Configuration,${BASE}\nobjectClass: applicationProcess\ncn: DICOM Configuration\n`,
    `dn: ${devices}\nobjectClass: applicationProcess\ncn: Devices\n`,
    `dn: dicomDeviceName=${device},${devices}\nobjectClass: dicomDevice\ndicomDeviceName: ${device}\ndcmProperty: installedBy=kaapana-0.2\n`,
    `dn: dicomAETitle=${device},dicomDeviceName=${device},${devices}\nobjectClass: dicomNetworkAE\ndicomAETitle: ${device}\ndcmAcceptedUserRole: user\n`,
    `dn: dcmExporterID=RetrieveAsReceived,dicomDeviceName=${device},${devices}\nobjectClass: dcmExporter\ndcmExporterID: RetrieveAsReceived\ndcmProperty: asReceived=5.26\n`,
    `dn: ${users}\nobjectClass: organizationalUnit\nou: users\n`,
    person('root'),
    person('admin'),
    person('user'),
    role('root', 'root'),
    role('admin', 'admin'),
    role('user', 'user'),
  ].join('\n');
}

export function runTool(cmd: string, args: string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A tool that exits before reading all input shows in its exit code, not as EPIPE here.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

async function must(cmd: string, args: string[], input?: string): Promise<void> {
  const r = await runTool(cmd, args, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code}: ${r.stderr}`);
}

export async function startSlapd(opts: { deviceName?: string } = {}): Promise<TestSlapd> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kaapana-slapd-'));
  const configDir = path.join(dir, 'slapd.d');
  await fs.mkdir(configDir);
  await fs.mkdir(path.join(dir, 'data'));
  // Loaded offline: faster than ldapadd and no window where a half-built tree is served.
  await must('slapadd', ['-n', '0', '-F', configDir], configLdif(dir));
  await must('slapadd', ['-n', '1', '-F', configDir], treeLdif(opts.deviceName ?? 'KAAPANA'));

  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}/`;
  // -d keeps slapd in the foreground, so it is our child and dies with the test run.
  const child: ChildProcess = spawn(SLAPD, ['-h', url, '-F', configDir, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that ends early (its file bound, a crash) takes its slapd along.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const bind = ['-x', '-H', url, '-D', `cn=admin,${BASE}`, '-w', ROOT_PW];
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = await runTool('ldapsearch', [...bind, '-LLL', '-b', BASE, '-s', 'base', 'dn']);
      if (probe.code === 0) break;
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(`slapd did not come up on ${url}: ${probe.stderr} ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    // A slapd left running would keep the test process alive.
    child.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url,
    baseDn: BASE,
    configDir,
    env: { LDAP_URLS: url, LDAP_BASE_DN: BASE, LDAP_ROOTPASS: ROOT_PW, LDAP_CONFIGPASS: CONFIG_PW },
    async read(dn, attrs = []) {
      const r = await runTool('ldapsearch', [...bind, '-LLL', '-o', 'ldif_wrap=no', '-b', dn, '-s', 'base', '(objectClass=*)', ...attrs]);
      if (r.code === 32) return '';
      if (r.code !== 0) throw new Error(`ldapsearch ${dn}: ${r.stderr}`);
      return r.stdout;
    },
    modify: (ldif, extraArgs = []) => runTool('ldapmodify', [...bind, ...extraArgs], ldif),
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
