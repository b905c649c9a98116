#!/usr/bin/env python3
"""Writes plait's synthetic hwloc topologies (see SOURCE.md).

    etc/topology/generate.py [OUTDIR]

The CPU part comes from hwloc's synthetic backend (so cpusets are consistent),
the PCI trees, OS devices and the NVLinkBandwidth matrix are added here, and
lstopo re-exports the result, which proves hwloc loads it."""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

GPU_H100 = ("0302 [10de:2330] [10de:16c1] a1 00", "NVIDIA H100 80GB HBM3")
GPU_A6000 = ("0302 [10de:2230] [10de:1459] a1 00", "NVIDIA RTX A6000")
GPU_L40S = ("0302 [10de:26b9] [10de:1851] a1 00", "NVIDIA L40S")
NVSWITCH = "0680 [10de:22a3] [10de:1796] a1 00"
CX7 = "0207 [15b3:1021] [15b3:0041] 00 00"
CX7_ETH = "0200 [15b3:1021] [15b3:0041] 00 00"
CX6 = "0207 [15b3:101b] [15b3:0007] 00 00"
PLX = "0604 [1000:c030] [1000:a064] b0 00"
ROOT = "0604 [8086:352a] [0000:0000] 04 00"


class Ids:
    def __init__(self):
        self.n = 10000

    def next(self):
        self.n += 1
        return str(self.n)


def cpu_xml(packages, cores, threads):
    # Linux numbering: thread t of core c of package p is CPU t*P*C + p*C + c.
    idx = [t * packages * cores + p * cores + c
           for p in range(packages) for c in range(cores) for t in range(threads)]
    desc = "pack:%d [numa] core:%d pu:%d(indexes=%s)" % (
        packages, cores, threads, ",".join(map(str, idx)))
    return subprocess.run(["lstopo-no-graphics", "--input", desc, "--of", "xml", "-"],
                          check=True, capture_output=True, text=True).stdout


def obj(parent, ids, typ, **attrs):
    e = ET.SubElement(parent, "object", {"type": typ, "gp_index": ids.next()})
    for k, v in attrs.items():
        e.set(k, v)
    return e


def info(e, name, value):
    ET.SubElement(e, "info", {"name": name, "value": value})


def host_bridge(pkg, ids, domain, lo, hi):
    return obj(pkg, ids, "Bridge", bridge_type="0-1", depth="0",
               bridge_pci="%04x:[%02x-%02x]" % (domain, lo, hi))


def bridge(parent, ids, busid, lo, hi, depth, pci_type=ROOT):
    return obj(parent, ids, "Bridge", bridge_type="1-1", depth=str(depth),
               bridge_pci="%s:[%02x-%02x]" % (busid[:4], lo, hi), pci_busid=busid,
               pci_type=pci_type, pci_link_speed="31.507692")


def gpu(parent, ids, busid, kind, index):
    d = obj(parent, ids, "PCIDev", pci_busid=busid, pci_type=kind[0], pci_link_speed="31.507692")
    info(d, "PCIVendor", "NVIDIA Corporation")
    info(d, "PCIDevice", kind[1])
    o = obj(d, ids, "OSDev", name="nvml%d" % index, subtype="NVML", osdev_type="1")
    info(o, "GPUVendor", "NVIDIA Corporation")
    info(o, "GPUModel", kind[1])
    return o


def nic(parent, ids, busid, kind, rdma, netdev, link="InfiniBand"):
    d = obj(parent, ids, "PCIDev", pci_busid=busid, pci_type=kind, pci_link_speed="31.507692")
    info(d, "PCIVendor", "Mellanox Technologies")
    info(d, "PCIDevice", "MT2910 Family [ConnectX-7]")
    n = obj(d, ids, "OSDev", name=netdev, osdev_type="2")
    info(n, "Address", "00:00:00:00:00:00")
    o = obj(d, ids, "OSDev", name=rdma, osdev_type="3")
    info(o, "Port1State", "4")
    info(o, "Port1LinkLayer", link)
    return d


def switch(pkg, ids, domain, bus, devices):
    """A host bridge, a root port, a PCIe switch and one downstream port per device."""
    n = len(devices)
    hb = host_bridge(pkg, ids, domain, bus, bus + n + 2)
    rp = bridge(hb, ids, "%04x:%02x:01.0" % (domain, bus), bus + 1, bus + n + 2, 1)
    up = bridge(rp, ids, "%04x:%02x:00.0" % (domain, bus + 1), bus + 2, bus + n + 2, 2, PLX)
    out = []
    for i, make in enumerate(devices):
        dn = bridge(up, ids, "%04x:%02x:%02x.0" % (domain, bus + 2, i), bus + 3 + i, bus + 3 + i, 3, PLX)
        out.append(make(dn, "%04x:%02x:00.0" % (domain, bus + 3 + i)))
    return out


def nvlink_matrix(root, ends, bw):
    """ends: OSDev/PCIDev elements; bw[i][j] in MB/s (hwloc's unit)."""
    n = len(ends)
    d = ET.SubElement(root, "distances2hetero", {"nbobjs": str(n), "kind": "25",
                                                   "name": "NVLinkBandwidth"})
    idx = " ".join("%s:%s" % (e.get("type"), e.get("gp_index")) for e in ends) + " "
    ET.SubElement(d, "indexes", {"length": str(len(idx))}).text = idx
    flat = [bw[i][j] for i in range(n) for j in range(n)]
    for k in range(0, len(flat), 10):
        txt = " ".join(str(v) for v in flat[k:k + 10]) + " "
        ET.SubElement(d, "u64values", {"length": str(len(txt))}).text = txt


def build(name, packages, cores, threads, io):
    root = ET.fromstring(cpu_xml(packages, cores, threads))
    machine = root.find("object")
    for e in list(machine.findall("info")):
        machine.remove(e)
    # Infos come before child objects in hwloc's XML.
    machine.insert(0, ET.Element("info", {"name": "PlaitFixture",
                                          "value": "synthetic, see etc/topology/SOURCE.md"}))
    machine.insert(0, ET.Element("info", {"name": "DMIProductName", "value": name}))
    pkgs = machine.findall("object[@type='Package']")
    io(root, pkgs, Ids())
    return root


def dgx_h100(root, pkgs, ids):
    # 4 PCIe switches, each with 2 H100 and 2 ConnectX-7 (InfiniBand); one
    # storage NIC per socket on its own host bridge; 4 NVSwitches.
    gpus, g, n = [], 0, 0
    names = iter(["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_4", "mlx5_5",
                  "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9"])
    layout = [(0, 0x10, True), (0, 0x30, False), (1, 0x90, True), (1, 0xb0, False)]
    for sw, (p, bus, storage_after) in enumerate(layout):
        devs = []
        for k in range(2):
            gi = 2 * sw + k
            devs.append(lambda parent, busid, gi=gi: gpu(parent, ids, busid, GPU_H100, gi))
            devs.append(lambda parent, busid: nic(parent, ids, busid, CX7, next(names),
                                                  "ibp%ss0" % int(busid[5:7], 16)))
        # Slot order on the board: NIC, GPU, NIC, GPU.
        devs = [devs[1], devs[0], devs[3], devs[2]]
        made = switch(pkgs[p], ids, 0, bus, devs)
        gpus += [made[1], made[3]]
        if storage_after:
            sb = bus + 0x10
            hb = host_bridge(pkgs[p], ids, 0, sb, sb + 1)
            rp = bridge(hb, ids, "0000:%02x:01.0" % sb, sb + 1, sb + 1, 1)
            nic(rp, ids, "0000:%02x:00.0" % (sb + 1), CX7_ETH, next(names),
                "enp%ds0np0" % (sb + 1), "Ethernet")
    hb = host_bridge(pkgs[1], ids, 0, 0xc0, 0xc6)
    rp = bridge(hb, ids, "0000:c0:01.0", 0xc1, 0xc6, 1)
    switches = []
    for k in range(4):
        d = obj(rp, ids, "PCIDev", pci_busid="0000:c%d:00.0" % (k + 2), pci_type=NVSWITCH,
                pci_link_speed="0.250000")
        info(d, "PCIVendor", "NVIDIA Corporation")
        info(d, "PCIDevice", "NVSwitch")
        switches.append(d)
    # H100 SXM: 18 NVLink4 links of 25 GB/s, 5+4+4+5 to the four NVSwitches.
    links = [5, 4, 4, 5]
    ends = gpus + switches
    bw = [[0] * 12 for _ in range(12)]
    for i in range(8):
        bw[i][i] = 1000000
        for s in range(4):
            bw[i][8 + s] = bw[8 + s][i] = links[s] * 25000
    for s in range(4):
        bw[8 + s][8 + s] = 1000000
    nvlink_matrix(root, ends, bw)


def pcie_4gpu_nvlink(root, pkgs, ids):
    # One socket, two PCIe switches with two RTX A6000 each; NVLink bridges join
    # the GPUs of adjacent slots, which hang off different switches.
    a = switch(pkgs[0], ids, 0, 0x18, [
        lambda p, b: gpu(p, ids, b, GPU_A6000, 0),
        lambda p, b: gpu(p, ids, b, GPU_A6000, 1)])
    b = switch(pkgs[0], ids, 0, 0x38, [
        lambda p, b: gpu(p, ids, b, GPU_A6000, 2),
        lambda p, b: gpu(p, ids, b, GPU_A6000, 3),
        lambda p, b: nic(p, ids, b, CX6, "mlx5_0", "ibp62s0")])
    ends = a + b[:2]
    bw = [[0] * 4 for _ in range(4)]
    for i in range(4):
        bw[i][i] = 1000000
    # 4 NVLink3 links of 14.0625 GB/s per direction per bridge.
    for i, j in ((0, 2), (1, 3)):
        bw[i][j] = bw[j][i] = 56250
    nvlink_matrix(root, ends, bw)


def pcie_8gpu_2socket(root, pkgs, ids):
    # Two sockets, each with two PCIe switches of two L40S; one NIC per socket,
    # on the second switch. No NVLink.
    g = 0
    for p, bus in ((0, 0x18), (0, 0x38), (1, 0x98), (1, 0xb8)):
        devs = [lambda q, b, gi=g: gpu(q, ids, b, GPU_L40S, gi),
                lambda q, b, gi=g + 1: gpu(q, ids, b, GPU_L40S, gi)]
        if bus in (0x38, 0xb8):
            name = "mlx5_%d" % (0 if p == 0 else 1)
            devs.append(lambda q, b, name=name: nic(q, ids, b, CX6, name,
                                                    "ibp%ds0" % int(b[5:7], 16)))
        switch(pkgs[p], ids, 0, bus, devs)
        g += 2


FIXTURES = {
    "dgx-h100.xml": ("DGX H100 (synthetic)", 2, 56, 2, dgx_h100),
    "local-cluster.xml": ("DGX H100-like, 2x4 cores (plait local cluster)", 2, 4, 1, dgx_h100),
    "pcie-4gpu-nvlink.xml": ("4x RTX A6000, NVLink pairs (synthetic)", 1, 32, 2, pcie_4gpu_nvlink),
    "pcie-8gpu-2socket.xml": ("8x L40S, 2 sockets, no NVLink (synthetic)", 2, 16, 2,
                              pcie_8gpu_2socket),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for fname, (name, p, c, t, io) in FIXTURES.items():
        root = build(name, p, c, t, io)
        with tempfile.NamedTemporaryFile("wb", suffix=".xml", delete=False) as f:
            f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE topology SYSTEM "hwloc2.dtd">\n')
            f.write(ET.tostring(root))
            raw = f.name
        try:
            subprocess.run(["lstopo-no-graphics", "--input", raw, "--whole-io", "--of", "xml", "-f",
                            os.path.join(out, fname)], check=True,
                           env=dict(os.environ, HWLOC_XML_EXPORT_SUPPORT="0"))
        finally:
            os.unlink(raw)
        print("wrote", os.path.join(out, fname))


if __name__ == "__main__":
    main()
