import CMPI

/// A Swift number type with a matching MPI datatype, usable in collectives.
public protocol MPIElement {
    static var mpiDatatype: MPI_Datatype { get }
}

extension Float: MPIElement { public static var mpiDatatype: MPI_Datatype { vd_float() } }
extension Double: MPIElement { public static var mpiDatatype: MPI_Datatype { vd_double() } }
extension Int32: MPIElement { public static var mpiDatatype: MPI_Datatype { vd_int32() } }
extension UInt8: MPIElement { public static var mpiDatatype: MPI_Datatype { vd_uint8() } }
extension Int: MPIElement {
    public static var mpiDatatype: MPI_Datatype {
        precondition(MemoryLayout<Int>.size == 8, "Int is assumed to be 64-bit")
        return vd_int64()
    }
}
