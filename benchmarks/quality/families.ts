/** The fixture families' index, as scripts/train_families.py writes it (families.json). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FamilyModel {
  file: string;
  family: string;
  role: 'deep' | 'shallow';
  architecture: string;
  accuracy_test10k: number;
}

export interface QualityPair {
  name: string;
  family: string;
  kind: 'heterogeneous' | 'homogeneous';
  models: [string, string];
}

export interface FamilyIndex {
  folder: string;
  models: Record<string, FamilyModel>;
  pairs: QualityPair[];
}

export function readFamilies(folder: string): FamilyIndex {
  const path = join(folder, 'families.json');
  if (!existsSync(path)) {
    const make = `nice -n 10 /usr/bin/python3 scripts/train_families.py --out ${folder}`;
    throw new Error(`${path} not found; make the fixtures first: ${make}`);
  }
  const index = JSON.parse(readFileSync(path, 'utf8')) as Omit<FamilyIndex, 'folder'>;
  return { folder, ...index };
}

export function modelPath(index: FamilyIndex, name: string): string {
  return join(index.folder, index.models[name].file);
}
